// ivrd console: Funnels. Per flow, over a period, how many ended calls
// reached each prompt and how many callers hung up there
// (GET /api/v1/flows/{name}/funnel), as horizontal bars: the whole bar is
// the calls that reached the prompt, its red end those who hung up after
// it (waiting for keys, or while the next prompt played: the history
// records a prompt once it has played or a key cut it off).
"use strict";

(function () {
  const { el, api, page, outcomeWords, SignedOut, main } = window.ivrdConsole;
  const { rows, periods, range } = window.ivrdCharts;

  function funnelPage(params) {
    let gone = false;
    const flowSel = el("select", { id: "funnel-flow" });
    const periodSel = el("select", { id: "funnel-period" }, periods.map(([v, t]) => el("option", { value: v }, t)));
    const since = el("input", { id: "funnel-since", type: "datetime-local", hidden: true });
    const until = el("input", { id: "funnel-until", type: "datetime-local", hidden: true });
    const show = el("button", { id: "funnel-show", class: "primary", type: "button" }, "Show");
    const err = el("p", { id: "funnel-error", class: "error" });
    const box = el("div", { id: "funnel" });
    main.replaceChildren(el("h1", {}, "Funnels ", el("small", {}, "where callers go in a flow, and where they hang up")),
      el("div", { class: "toolbar" }, el("label", {}, "Flow ", flowSel), el("label", {}, "Period ", periodSel), since, until, show),
      err, box);
    periodSel.value = params.get("period") || "7d";
    since.value = params.get("since") || "";
    until.value = params.get("until") || "";

    function draw(f) {
      const reached = (s) => f.calls ? Math.round((100 * s.reached) / f.calls) + "%" : "";
      const items = f.steps.map((s) => ({ label: s.prompt, value: s.reached, part: s.hung_up,
        text: s.reached + " (" + reached(s) + ")" + (s.hung_up ? " · " + s.hung_up + " hung up after it" : ""),
        title: s.prompt + ": reached by " + s.reached + " of " + f.calls + " calls; " + s.hung_up + " callers hung up after it" }));
      const outcomes = Object.entries(f.outcomes).sort((a, b) => b[1] - a[1]);
      box.replaceChildren(
        el("p", { class: "stats" }, el("span", {}, "calls ", el("b", { id: "funnel-calls" }, f.calls)),
          el("span", {}, "hung up before any prompt ", el("b", {}, f.hung_up_before_prompt)),
          ...outcomes.map(([o, n]) => el("span", {}, (outcomeWords[o] || o) + " ", el("b", {}, n))),
          f.truncated ? el("span", { class: "error" }, "only the newest calls counted: narrow the period") : null),
        f.steps.length ? el("div", { class: "card" }, rows(items, { label: "funnel of " + f.flow }))
          : el("p", { class: "muted", id: "funnel-none" }, f.calls ? "These calls heard no prompt." : "No call of " + f.flow + " ended in the period."));
    }
    async function load() {
      if (!flowSel.value) return;
      const q = new URLSearchParams({ flow: flowSel.value, period: periodSel.value });
      if (periodSel.value === "custom") {
        if (since.value) q.set("since", since.value);
        if (until.value) q.set("until", until.value);
      }
      history.replaceState(null, "", "#/funnel?" + q);
      let f;
      try {
        f = await api("GET", "/api/v1/flows/" + encodeURIComponent(flowSel.value) + "/funnel?" +
          new URLSearchParams(range(periodSel.value, since.value, until.value)));
        err.textContent = "";
      } catch (e) {
        if (!(e instanceof SignedOut)) { err.textContent = (e.field ? e.field + ": " : "") + e.message; box.replaceChildren(); }
        return;
      }
      if (!gone) draw(f);
    }
    function custom() { since.hidden = until.hidden = periodSel.value !== "custom"; }
    flowSel.addEventListener("change", load);
    periodSel.addEventListener("change", () => { custom(); load(); });
    show.addEventListener("click", load);
    custom();
    (async () => {
      try {
        const l = await api("GET", "/api/v1/flows");
        if (gone) return;
        flowSel.replaceChildren(...l.flows.map((f) => el("option", { value: f.name }, f.name)));
        const want = params.get("flow");
        if (want && l.flows.some((f) => f.name === want)) flowSel.value = want;
        load();
      } catch (e) {
        if (!(e instanceof SignedOut)) err.textContent = e.message;
      }
    })();
    return () => { gone = true; };
  }

  page("funnel", "Funnels", funnelPage);
})();
