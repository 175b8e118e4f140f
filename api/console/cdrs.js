// ivrd console: the Call records page. Every record the devices sent
// (README, "Call records"), whether or not the call passed through the
// IVR: newest first, filtered by period, number and extension, paged, with
// the same search as CSV, and each fetched recording playable. All through
// /api/v1/cdrs and /api/v1/recordings.
"use strict";

(function () {
  const c = window.ivrdConsole;
  const { el, api, when, secs, SignedOut } = c;

  // The OM's Type and Route codes (omapi.md §5) in words.
  const typeWords = { IN: "in", OU: "out", FI: "forwarded in", FW: "forwarded out", LO: "internal", CB: "callback" };
  const routeWords = { IP: "IP trunk", XO: "analogue trunk", IC: "internal", OP: "operator" };

  // recordingCell plays a fetched recording in the page; one not fetched
  // yet, or given up, shows its state (GET /api/v1/recordings/{id} says
  // why).
  const recordingWords = { pending: "being fetched", failed: "not fetched (failed)" };
  function recordingCell(r) {
    if (!r.recording) return "";
    if (r.recording_state === "fetched" && r.recording_id) {
      const src = "/api/v1/recordings/" + encodeURIComponent(r.recording_id) + "/audio";
      return el("span", { class: "recording", "data-recording": r.recording_id },
        el("audio", { controls: true, preload: "none", src, title: r.recording }),
        " ", el("a", { href: src, download: "" }, "WAV"));
    }
    return el("span", { class: "muted", title: r.recording }, recordingWords[r.recording_state] || "not fetched");
  }

  function cdrsPage(params) {
    const number = el("input", { id: "cdr-number", type: "search", placeholder: "caller or called", value: params.get("number") || "" });
    const ext = el("input", { id: "cdr-ext", type: "search", placeholder: "extension", size: 8, value: params.get("ext") || "" });
    const since = el("input", { id: "cdr-since", type: "datetime-local", value: params.get("since") || "" });
    const until = el("input", { id: "cdr-until", type: "datetime-local", value: params.get("until") || "" });
    const csv = el("a", { id: "cdr-csv", download: "", href: "/api/v1/cdrs?format=csv" }, "Export CSV");
    const form = el("form", { class: "toolbar", id: "cdr-form" },
      el("label", {}, "Number ", number), el("label", {}, "Extension ", ext),
      el("label", {}, "Ended from ", since), el("label", {}, "to ", until),
      el("button", { class: "primary", type: "submit", id: "cdr-search" }, "Search"), el("span", { class: "grow" }), csv);
    const body = el("tbody", { id: "cdr-rows" });
    const more = el("button", { id: "cdr-more", type: "button", hidden: true }, "Older records");
    const err = el("p", { class: "error", id: "cdr-error" });
    c.main.replaceChildren(el("h1", {}, "Call records ", el("small", {}, "as the devices sent them, newest first")), form, err,
      el("table", { id: "cdr-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Ended"), el("th", {}, "Device"),
        el("th", {}, "Caller"), el("th", {}, "Called"), el("th", {}, "Type"), el("th", {}, "Route"),
        el("th", { class: "num" }, "Talked"), el("th", {}, "IVR call"), el("th", {}, "Recording"))), body),
      el("div", { class: "toolbar" }, more));
    let next = "", gone = false;

    // query is the search as the API takes it; older continues it.
    function query(older) {
      const q = new URLSearchParams();
      if (number.value.trim()) q.set("number", number.value.trim());
      if (ext.value.trim()) q.set("ext", ext.value.trim());
      // datetime-local is the browser's local time; the API takes RFC 3339.
      if (since.value) q.set("since", new Date(since.value).toISOString());
      if (until.value) q.set("until", new Date(until.value).toISOString());
      if (older && next) q.set("before", next);
      return q;
    }

    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, input] of [["number", number], ["ext", ext], ["since", since], ["until", until]]) {
        if (input.value.trim()) q.set(k, input.value.trim());
      }
      const h = "#/cdrs" + (q.toString() ? "?" + q : "");
      if (location.hash === h) search(false); else location.hash = h;
    });
    more.addEventListener("click", () => search(true));

    async function search(older) {
      const q = query(older);
      const csvQ = query(false);
      csvQ.set("format", "csv");
      csv.href = "/api/v1/cdrs?" + csvQ;
      q.set("limit", "50");
      err.textContent = "";
      let page;
      try { page = await api("GET", "/api/v1/cdrs?" + q); } catch (e) {
        if (e instanceof SignedOut || gone) return;
        err.textContent = e.status === 404 ? "This ivrd keeps no call records." : (e.field ? e.field + ": " : "") + e.message;
        return;
      }
      if (gone) return;
      next = page.next || "";
      more.hidden = !next;
      const rows = page.cdrs.map((r) => el("tr", { "data-cdr": r.id || "" },
        el("td", { title: "device time " + c.omTime(r.time_end) }, when(r.ended)),
        el("td", {}, r.device), el("td", { class: "mono" }, r.cpn), el("td", { class: "mono" }, r.cdpn),
        el("td", { title: r.type }, typeWords[r.type] || r.type || ""),
        el("td", { title: r.route }, routeWords[r.route] || r.route || ""),
        // Duration 0 is a call never answered.
        el("td", { class: "num" }, r.duration > 0 ? secs(r.duration * 1000) : el("span", { class: "muted" }, "not answered")),
        el("td", {}, r.call ? el("a", { href: "#/call/" + encodeURIComponent(r.call) }, "path") : ""),
        el("td", {}, recordingCell(r))));
      if (older) body.append(...rows);
      else body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No call record matches."))]));
    }

    search(false);
    return () => { gone = true; };
  }

  c.page("cdrs", "Call records", cdrsPage);
})();
