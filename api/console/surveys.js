// ivrd console: Surveys. What the flows' ivr.survey runs collected
// (GET /api/v1/surveys/{flow}): per question a bar chart of the answers,
// how many answered and missed it, the average on a numeric scale; over
// all time or a period, with the period's responses as CSV. The page reads
// the report again every 5 s, so answers appear as callers give them.
"use strict";

(function () {
  const { el, api, page, SignedOut, main } = window.ivrdConsole;
  const { columns, periods, range } = window.ivrdCharts;

  function surveysPage(params) {
    let gone = false, timer = null;
    const flowSel = el("select", { id: "survey-flow" });
    const periodSel = el("select", { id: "survey-period" }, periods.map(([v, t]) => el("option", { value: v }, t)));
    const since = el("input", { id: "survey-since", type: "datetime-local", hidden: true });
    const until = el("input", { id: "survey-until", type: "datetime-local", hidden: true });
    const csv = el("a", { id: "survey-csv", href: "#", download: "", hidden: true }, "Export CSV");
    const err = el("p", { id: "survey-error", class: "error" });
    const box = el("div", { id: "surveys" }, el("p", { class: "muted" }, "Loading…"));
    main.replaceChildren(el("h1", {}, "Surveys ", el("small", {}, "answers collected by ivr.survey")),
      el("div", { class: "toolbar" }, el("label", {}, "Flow ", flowSel), el("label", {}, "Period ", periodSel), since, until,
        el("span", { class: "grow" }), csv), err, box);
    periodSel.value = params.get("period") || "all";
    since.value = params.get("since") || "";
    until.value = params.get("until") || "";

    function query() {
      const q = new URLSearchParams(range(periodSel.value, since.value, until.value));
      return q;
    }
    function remember() {
      const q = new URLSearchParams({ flow: flowSel.value, period: periodSel.value });
      if (periodSel.value === "custom") {
        if (since.value) q.set("since", since.value);
        if (until.value) q.set("until", until.value);
      }
      history.replaceState(null, "", "#/surveys?" + q);
    }

    function draw(report) {
      if (report.surveys.length === 0) {
        box.replaceChildren(el("p", { class: "muted", id: "survey-none" }, "No survey has run in flow " + report.flow + " yet."));
        csv.hidden = true;
        return;
      }
      const one = report.surveys.length === 1 ? report.surveys[0].name : "";
      csv.hidden = false;
      box.replaceChildren(...report.surveys.map((s) => {
        const q = query();
        q.set("survey", s.name);
        q.set("format", "csv");
        const charts = s.questions.map((qs) => {
          const items = qs.counts.map((c) => ({ label: c.answer, value: c.count,
            title: c.answer + ": " + c.count + (qs.answered ? " (" + Math.round((100 * c.count) / qs.answered) + "%)" : "") }));
          return el("div", { class: "card question", "data-question": qs.id },
            el("h3", {}, qs.id, " ", el("small", { class: "muted" }, qs.scale ? "scale " + qs.scale : "keys " + qs.keys)),
            el("p", { class: "stats" },
              el("span", {}, "answered ", el("b", { class: "answered" }, qs.answered)),
              el("span", {}, "missed ", el("b", { class: "missed" }, qs.missed)),
              qs.scale ? el("span", {}, "average ", el("b", { class: "average" }, qs.average == null ? "—" : qs.average.toFixed(2))) : null),
            columns(items, { label: "answers to " + qs.id, minWidth: 240 }));
        });
        return el("section", { class: "survey", "data-survey": s.name },
          el("h2", {}, "Survey " + s.name, " ", el("small", { class: "muted" }, s.source === "counters" ? "all time" : "in the period")),
          el("p", { class: "stats" },
            el("span", {}, "started ", el("b", { class: "started" }, s.started)),
            el("span", {}, "completed ", el("b", { class: "completed" }, s.completed)),
            s.started ? el("span", {}, "completion ", el("b", {}, Math.round((100 * s.completed) / s.started) + "%")) : null,
            el("a", { href: "/api/v1/surveys/" + encodeURIComponent(report.flow) + "?" + q, download: "", class: "csv" }, "CSV of " + s.name)),
          el("div", { class: "charts" }, charts));
      }));
      if (one) {
        const q = query();
        q.set("survey", one);
        q.set("format", "csv");
        csv.href = "/api/v1/surveys/" + encodeURIComponent(report.flow) + "?" + q;
      } else csv.hidden = true;
    }

    async function load() {
      clearTimeout(timer);
      if (!flowSel.value) return;
      let report;
      try {
        report = await api("GET", "/api/v1/surveys/" + encodeURIComponent(flowSel.value) + "?" + query());
        err.textContent = "";
      } catch (e) {
        if (e instanceof SignedOut) return;
        err.textContent = (e.field ? e.field + ": " : "") + e.message;
        box.replaceChildren();
        timer = setTimeout(load, 5000);
        return;
      }
      if (gone) return;
      draw(report);
      timer = setTimeout(load, 5000);
    }

    async function start() {
      // The flows whose store holds a survey come first in the list.
      let flows = [];
      try { flows = (await api("GET", "/api/v1/flows")).flows.map((f) => f.name); } catch (e) {
        if (!(e instanceof SignedOut)) err.textContent = e.message;
        return;
      }
      const found = await Promise.all(flows.map((f) => api("GET", "/api/v1/surveys/" + encodeURIComponent(f))
        .then((r) => r.surveys.length > 0, () => false)));
      if (gone) return;
      const withSurveys = flows.filter((f, i) => found[i]);
      const others = flows.filter((f, i) => !found[i]);
      flowSel.replaceChildren(...withSurveys.map((f) => el("option", { value: f }, f)),
        others.length ? el("optgroup", { label: "no survey yet" }, others.map((f) => el("option", { value: f }, f))) : null);
      const want = params.get("flow");
      if (want && flows.includes(want)) flowSel.value = want;
      load();
    }
    function custom() {
      since.hidden = until.hidden = periodSel.value !== "custom";
    }
    flowSel.addEventListener("change", () => { remember(); load(); });
    periodSel.addEventListener("change", () => { custom(); remember(); load(); });
    for (const i of [since, until]) i.addEventListener("change", () => { remember(); load(); });
    custom();
    start();
    return () => { gone = true; clearTimeout(timer); };
  }

  page("surveys", "Surveys", surveysPage);
})();
