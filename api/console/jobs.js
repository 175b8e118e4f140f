// ivrd console: Outbound jobs. The jobs by phase (GET /api/v1/jobs, 50 to
// a page), cancelling one (DELETE /api/v1/jobs/{id}), and scheduling a
// call from a form (POST /api/v1/calls) — a wake-up for a room at a time
// in a time zone by default. A refused request's field errors show beside
// their field.
"use strict";

(function () {
  const { el, api, page, SignedOut, main } = window.ivrdConsole;

  const phases = [["", "All"], ["due", "Due"], ["retrying", "Retrying"], ["running", "Running"], ["done", "Done"],
    ["failed", "Failed"], ["cancelled", "Cancelled"], ["dropped", "Dropped"]];
  const pageSize = 50;
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "Europe/London", "Europe/Berlin",
    "America/New_York", "America/Los_Angeles", "UTC"];

  // phaseOf is where a job stands, as the API's ?state= phases name it.
  function phaseOf(j) {
    if (j.state === "scheduled") return j.attempts && j.attempts.length ? "retrying" : "due";
    if (j.state === "dialing") return "running";
    return j.state;
  }
  function final(j) { return ["done", "failed", "cancelled", "dropped"].includes(j.state); }

  // dueText writes when a job is due as its time zone's clock shows it
  // ("2026-11-26 07:00 Asia/Shanghai"): the hotel's time, wherever the
  // operator sits.
  function dueText(j) {
    if (!j.due) return "";
    const d = new Date(j.due);
    let zone = j.tz || browserZone;
    let parts;
    try {
      parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d);
    } catch (e) {
      // A zone the browser does not know: the browser's own.
      zone = browserZone;
      parts = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d);
    }
    const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + zone;
  }
  function fromNow(t) {
    const ms = Date.parse(t) - Date.now();
    const m = Math.round(Math.abs(ms) / 60000);
    const span = m < 60 ? m + " min" : m < 48 * 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : Math.round(m / 1440) + " days";
    return ms >= 0 ? "in " + span : span + " ago";
  }
  function varsText(j) {
    if (!j.vars) return "";
    return Object.entries(j.vars).map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
  }
  function lastOutcome(j) {
    const a = j.attempts && j.attempts[j.attempts.length - 1];
    if (j.outcome) return j.outcome + (j.reason ? " (" + j.reason + ")" : "");
    if (a && a.outcome) return a.outcome + (a.reason ? " (" + a.reason + ")" : "");
    return "";
  }

  function jobsPage(params) {
    let state = params.get("state") || "";
    let offset = 0, timer = null, gone = false;
    const total = el("small", { id: "jobs-total" }, "");
    const tabs = el("div", { class: "tabs", id: "jobs-phases" });
    const prev = el("button", { id: "jobs-prev", type: "button", disabled: true }, "← Newer");
    const next = el("button", { id: "jobs-next", type: "button", disabled: true }, "Older →");
    const range = el("span", { id: "jobs-range", class: "muted" }, "");
    const err = el("p", { class: "error", id: "jobs-error" });
    const body = el("tbody", { id: "jobs-rows" });

    // The form. Each input's API field name is its data-field; the
    // answer's field goes to the error line under the input.
    const f = {
      to: el("input", { id: "job-to", name: "to", "data-field": "to", placeholder: "13800000001", inputmode: "tel" }),
      flow: el("input", { id: "job-flow", name: "flow", "data-field": "flow", value: "wakeup", list: "job-flows" }),
      room: el("input", { id: "job-room", name: "room", "data-field": "vars", placeholder: "1203" }),
      date: el("input", { id: "job-date", name: "date", type: "date", "data-field": "at" }),
      time: el("input", { id: "job-time", name: "time", type: "time", "data-field": "at", value: "07:00" }),
      tz: el("input", { id: "job-tz", name: "tz", "data-field": "tz", value: browserZone, list: "job-zones" }),
      window: el("input", { id: "job-window", name: "window", "data-field": "window", placeholder: "07:00-22:00 (optional)" }),
      attempts: el("input", { id: "job-attempts", name: "attempts", "data-field": "retry.attempts", type: "number", min: 1, max: 100, value: 3 }),
      delay: el("input", { id: "job-delay", name: "delay", "data-field": "retry.delay", value: "5m" }),
      id: el("input", { id: "job-id", name: "id", "data-field": "id", placeholder: "wake-1203-1126 (optional)" }),
    };
    const flowList = el("datalist", { id: "job-flows" });
    const zoneList = el("datalist", { id: "job-zones" }, [...new Set([browserZone, ...zones])].map((z) => el("option", { value: z })));
    const errors = {};
    function field(label, input, hint) {
      const name = input.dataset.field;
      const e = el("span", { class: "field-error", "data-error-for": name, id: "job-error-" + input.name });
      (errors[name] = errors[name] || []).push(e);
      return el("label", {}, label, input, hint ? el("span", { class: "muted" }, hint) : null, e);
    }
    const submit = el("button", { id: "job-schedule", class: "primary", type: "submit" }, "Schedule");
    const result = el("span", { id: "job-result" });
    const formErr = el("span", { id: "job-form-error", class: "error" });
    const form = el("form", { id: "job-form", class: "fields", novalidate: true },
      field("Number to call", f.to), field("Flow", f.flow, "its answered(call) runs"), field("Room", f.room, "call.vars.room"),
      field("Date", f.date, "empty: the next such time"), field("Time", f.time), field("Time zone", f.tz),
      field("Calling window", f.window), field("Attempts", f.attempts), field("Between attempts", f.delay, "\"5m\", \"90s\""),
      field("Job id", f.id, "asking again with it makes no second job"),
      el("div", { class: "actions" }, submit, result, formErr), flowList, zoneList);

    main.replaceChildren(el("h1", {}, "Outbound jobs", total),
      el("div", { class: "toolbar" }, tabs, el("span", { class: "grow" }), prev, next, range), err,
      el("table", { id: "jobs-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Job"), el("th", {}, "Number"), el("th", {}, "Flow"),
        el("th", {}, "Vars"), el("th", {}, "Due"), el("th", {}, "State"), el("th", { class: "num" }, "Attempts"), el("th", {}, "Last outcome"),
        el("th", {}, ""))), body),
      el("h2", {}, "Schedule a call ", el("small", { class: "muted" }, "a wake-up for a room by default")),
      el("div", { class: "card" }, form));

    function drawTabs(counts) {
      const all = Object.values(counts).reduce((a, b) => a + b, 0);
      tabs.replaceChildren(...phases.map(([p, label]) => el("button", {
        type: "button", "data-phase": p, id: "jobs-phase-" + (p || "all"), class: p === state ? "active" : "",
        onclick: () => { state = p; offset = 0; location.hash = "#/jobs" + (p ? "?state=" + p : ""); },
      }, label, el("span", { class: "n" }, p ? counts[p] || 0 : all))));
    }
    async function load() {
      clearTimeout(timer);
      const q = new URLSearchParams({ limit: String(pageSize), offset: String(offset) });
      if (state) q.set("state", state);
      let list;
      try {
        list = await api("GET", "/api/v1/jobs?" + q);
        err.textContent = "";
      } catch (e) {
        if (e instanceof SignedOut) return;
        err.textContent = e.message;
        timer = setTimeout(load, 5000);
        return;
      }
      if (gone) return;
      if (list.jobs.length === 0 && offset > 0 && list.total > 0) {
        offset = Math.floor((list.total - 1) / pageSize) * pageSize;
        return load();
      }
      drawTabs(list.counts || {});
      total.textContent = list.total === 1 ? "1 job" : list.total + " jobs";
      range.textContent = list.total ? (offset + 1) + "–" + (offset + list.jobs.length) + " of " + list.total : "";
      prev.disabled = offset === 0;
      next.disabled = offset + list.jobs.length >= list.total;
      // A row whose cancel is being confirmed is left as it is.
      const confirming = body.querySelector("button.confirm");
      if (!confirming) draw(list.jobs);
      timer = setTimeout(load, 3000);
    }
    function draw(jobs) {
      if (jobs.length === 0) {
        body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, state ? "No job is " + state + "." : "No job yet.")));
        return;
      }
      body.replaceChildren(...jobs.map((j) => {
        const ph = phaseOf(j);
        let cancel = null;
        if (!final(j)) {
          cancel = el("button", { type: "button", class: "danger cancel", "data-id": j.id }, "Cancel");
          let armed = null;
          cancel.addEventListener("click", async () => {
            if (!armed) {
              // A second click within 4 s confirms.
              cancel.classList.add("confirm");
              cancel.textContent = "Really cancel?";
              armed = setTimeout(() => { armed = null; cancel.classList.remove("confirm"); cancel.textContent = "Cancel"; }, 4000);
              return;
            }
            clearTimeout(armed);
            cancel.disabled = true;
            try {
              await api("DELETE", "/api/v1/jobs/" + encodeURIComponent(j.id));
            } catch (e) {
              if (!(e instanceof SignedOut)) err.textContent = "Cancelling " + j.id + ": " + e.message;
            }
            cancel.classList.remove("confirm");
            load();
          });
        }
        return el("tr", { "data-id": j.id, "data-phase": ph },
          el("td", { class: "mono" }, j.id), el("td", {}, j.to), el("td", {}, j.flow), el("td", { class: "mono" }, varsText(j)),
          el("td", { title: j.due }, dueText(j), el("br"), el("small", { class: "muted" }, final(j) ? "" : fromNow(j.due))),
          el("td", {}, el("span", { class: "pill " + ph }, ph)),
          el("td", { class: "num" }, (j.attempts ? j.attempts.length : 0) + " of " + ((j.retry && j.retry.attempts) || 1)),
          el("td", {}, lastOutcome(j)), el("td", {}, cancel));
      }));
    }
    prev.addEventListener("click", () => { offset = Math.max(0, offset - pageSize); load(); });
    next.addEventListener("click", () => { offset += pageSize; load(); });

    function clearErrors() {
      for (const list of Object.values(errors)) for (const e of list) e.textContent = "";
      for (const i of Object.values(f)) i.classList.remove("bad");
      formErr.textContent = "";
    }
    function showError(e) {
      // retry.on and other fields the form has no input for show below it.
      const spans = errors[e.field];
      if (!spans) {
        formErr.textContent = (e.field ? e.field + ": " : "") + e.message;
        return;
      }
      const inputs = Object.values(f).filter((i) => i.dataset.field === e.field);
      for (const i of inputs) i.classList.add("bad");
      spans[spans.length - 1].textContent = e.message;
      inputs[0].focus();
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors();
      result.textContent = "";
      const req = { to: f.to.value.trim(), flow: f.flow.value.trim() };
      const room = f.room.value.trim();
      const hhmm = f.time.value;
      if (room) req.vars = { room, time: hhmm.replace(":", "") };
      if (hhmm) req.at = f.date.value ? f.date.value + " " + hhmm : hhmm;
      else if (f.date.value) req.at = f.date.value; // the API says what is missing
      if (f.tz.value.trim()) req.tz = f.tz.value.trim();
      if (f.window.value.trim()) req.window = f.window.value.trim();
      const retry = {};
      if (f.attempts.value !== "") retry.attempts = Number(f.attempts.value);
      if (f.delay.value.trim()) retry.delay = f.delay.value.trim();
      if (Object.keys(retry).length) req.retry = retry;
      if (f.id.value.trim()) req.id = f.id.value.trim();
      submit.disabled = true;
      try {
        const j = await api("POST", "/api/v1/calls", req);
        result.className = "ok";
        result.textContent = "Scheduled " + j.id + ": " + j.to + ", due " + dueText(j) + " (" + fromNow(j.due) + ")";
        if (state && state !== "due") { state = ""; location.hash = "#/jobs"; } else load();
      } catch (e) {
        if (!(e instanceof SignedOut)) showError(e);
      } finally {
        submit.disabled = false;
      }
    });

    (async () => {
      try {
        const l = await api("GET", "/api/v1/flows");
        flowList.replaceChildren(...l.flows.filter((x) => x.hash).map((x) => el("option", { value: x.name })));
      } catch (e) { /* the list only helps typing */ }
    })();
    load();
    return () => { gone = true; clearTimeout(timer); };
  }

  page("jobs", "Jobs", jobsPage);
})();
