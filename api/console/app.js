// ivrd console. Everything here goes through the admin API (README,
// "Admin API"): the page holds no data of its own. Pages are routed by the
// URL's #fragment; each returns a function that stops its timers and
// streams when the page is left.
"use strict";

(function () {
  const main = document.getElementById("main");
  const top = document.getElementById("top");
  let csrf = "";
  let leave = null; // stops the current page

  // el builds an element; text goes in as text, never as HTML.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  class SignedOut extends Error {}

  // api calls the admin API; changes carry the session's CSRF token.
  async function api(method, path, body) {
    const opt = { method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opt.headers["X-Ivrd-Csrf"] = csrf;
    if (body !== undefined) {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body);
    }
    const r = await fetch(path, opt);
    if (r.status === 401 && path !== "/api/v1/session") {
      signIn("Your session has ended; sign in again.");
      throw new SignedOut();
    }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      // A 400 names the request field at fault: forms show it beside it.
      const e = new Error((data && data.error) || r.status + " " + r.statusText);
      e.status = r.status;
      e.field = (data && data.field) || "";
      e.reason = (data && data.reason) || ""; // the OM's refusal, in the words of call:transfer
      throw e;
    }
    return data;
  }

  // Formatting.
  function secs(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h > 0 ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }
  function when(t) {
    if (!t) return "";
    const d = new Date(t);
    return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  // short is a version as the logs write it (flow_hash: 12 hex digits).
  function short(hash) { return hash ? hash.slice(0, 12) : ""; }
  // omTime reads the OM's 20261125204453 as 2026-11-25 20:44:53.
  function omTime(s) {
    const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s || "");
    return m ? m[1] + "-" + m[2] + "-" + m[3] + " " + m[4] + ":" + m[5] + ":" + m[6] : s;
  }
  const stepWords = {
    starting: "starting", recovering: "recovering after a restart", playing: "prompt playing",
    waiting_keys: "waiting for keys", transferring: "transferring", sleeping: "sleeping",
    dialing: "dialing", ringing: "ringing", answered: "answered", http: "waiting for a backend", ended: "ending",
  };
  function step(a) {
    if (!a) return el("span", { class: "pill" }, "—");
    let text = stepWords[a.kind] || a.kind;
    if (a.detail) text += ": " + a.detail;
    return el("span", { class: "pill " + a.kind, title: "since " + when(a.since) }, text);
  }
  function flowCell(c) {
    return el("span", {}, c.flow || "—", " ", el("code", { class: "muted", title: c.flow_hash }, short(c.flow_hash)));
  }

  // Sign-in and sign-out.
  function signIn(message) {
    stop();
    top.hidden = true;
    csrf = "";
    const token = el("input", { id: "token", type: "password", autocomplete: "current-password", required: true,
      placeholder: "admin token" });
    const err = el("p", { id: "signin-error", class: "error" }, message || "");
    const form = el("form", { id: "signin-form" },
      el("label", { for: "token" }, "Admin token ([admin] token or token_file)"), token,
      el("button", { id: "signin", class: "primary", type: "submit" }, "Sign in"), err);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      try {
        const s = await api("POST", "/api/v1/session", { token: token.value });
        csrf = s.csrf;
        token.value = "";
        top.hidden = false;
        document.dispatchEvent(new Event("ivrd:signedin"));
        if (!location.hash || location.hash === "#/signin") location.hash = "#/live";
        else route();
      } catch (e) {
        err.textContent = e.message;
      }
    });
    main.replaceChildren(el("div", { id: "signin-box", class: "card" }, el("h1", {}, "ivrd console"), form));
    token.focus();
  }
  document.getElementById("signout").addEventListener("click", async () => {
    try { await api("DELETE", "/api/v1/session"); } catch (e) { /* signed out either way */ }
    location.hash = "#/live";
    signIn("Signed out.");
  });

  function stop() {
    if (leave) leave();
    leave = null;
  }

  // Live calls: a page of them at a time from the server-sent stream.
  // The server sends a page only when it changed, at most once a second;
  // the page is drawn at most twice a second and durations tick locally.
  function livePage() {
    const pageSize = 50;
    let offset = 0, number = "", es = null, latest = null, drawn = null, skew = 0, drawTimer = null, retry = null;
    const status = el("span", { id: "live-status", class: "status down" }, "connecting");
    const total = el("small", { id: "live-total" }, "");
    const filter = el("input", { id: "live-number", type: "search", placeholder: "number" });
    const prev = el("button", { id: "live-prev", type: "button", disabled: true }, "← Newer");
    const next = el("button", { id: "live-next", type: "button", disabled: true }, "Older →");
    const range = el("span", { id: "live-range", class: "muted" }, "");
    const body = el("tbody", { id: "live-rows" });
    const table = el("table", { id: "live-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Caller"), el("th", {}, "Called"), el("th", {}, "Flow"),
        el("th", {}, "Now"), el("th", { class: "num" }, "Duration"))), body);
    main.replaceChildren(el("h1", {}, "Live calls", total), el("div", { class: "toolbar" }, filter, prev, next, range,
      el("span", { class: "grow" }), status), table);

    function connect() {
      clearTimeout(retry);
      if (es) es.close();
      const q = new URLSearchParams({ offset: String(offset), limit: String(pageSize) });
      if (number) q.set("number", number);
      es = new EventSource("/api/v1/calls/stream?" + q);
      es.addEventListener("calls", (ev) => {
        latest = JSON.parse(ev.data);
        skew = Date.parse(latest.at) - Date.now();
        status.className = "status live";
        status.textContent = "live";
        if (!drawTimer) drawTimer = setTimeout(() => { drawTimer = null; draw(); }, drawn ? 500 : 0);
      });
      es.onerror = () => {
        status.className = "status down";
        status.textContent = "reconnecting";
        // A stream refused for a lost session comes back as 401: find out.
        fetch("/api/v1/session", { credentials: "same-origin" }).then((r) => {
          if (r.status === 401) signIn("Your session has ended; sign in again.");
        }, () => {});
        // The browser retries a broken stream itself, but not a refused one.
        if (es.readyState === EventSource.CLOSED) retry = setTimeout(connect, 3000);
      };
    }
    function draw() {
      const p = latest;
      drawn = p;
      total.textContent = p.total === 1 ? "1 call" : p.total + " calls";
      if (p.calls.length === 0 && p.offset > 0 && p.total > 0) {
        offset = Math.max(0, Math.floor((p.total - 1) / pageSize) * pageSize);
        connect();
        return;
      }
      range.textContent = p.total > 0 ? (p.offset + 1) + "–" + (p.offset + p.calls.length) + " of " + p.total : "";
      prev.disabled = p.offset === 0;
      next.disabled = p.offset + p.calls.length >= p.total;
      if (p.calls.length === 0) {
        body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" },
          number ? "No live call to or from a number with " + number + "." : "No call is in the IVR now.")));
        return;
      }
      body.replaceChildren(...p.calls.map((c) => el("tr", { "data-id": c.id },
        el("td", {}, el("a", { href: "#/call/" + encodeURIComponent(c.id), class: "caller" }, c.from || "—")),
        el("td", {}, c.to), el("td", {}, flowCell(c)), el("td", { class: "step" }, step(c.activity)),
        el("td", { class: "num duration", "data-started": c.started }, ""))));
      tick();
    }
    function tick() {
      const now = Date.now() + skew;
      for (const td of body.querySelectorAll("td.duration")) td.textContent = secs(now - Date.parse(td.dataset.started));
    }
    let typing = null;
    filter.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { number = filter.value.trim(); offset = 0; connect(); }, 300);
    });
    prev.addEventListener("click", () => { offset = Math.max(0, offset - pageSize); connect(); });
    next.addEventListener("click", () => { offset += pageSize; connect(); });
    const ticker = setInterval(tick, 1000);
    connect();
    return () => { if (es) es.close(); clearInterval(ticker); clearTimeout(drawTimer); clearTimeout(typing); clearTimeout(retry); };
  }

  // A call: its facts, its path as a timeline, the OM's call record. A
  // live call is read again every second until it ends.
  const pathWords = {
    prompt: ["Prompt played", ""], prompt_interrupted: ["Prompt cut off by a key", ""],
    prompt_hangup: ["Prompt cut off by the hang-up", ""], keys: ["Keys pressed", "keys"],
    noinput: ["Timer: no input before the timeout", "timer"], invalid: ["Invalid input", "bad"],
    transfer: ["Transferred to", "transfer"], transfer_failed: ["Transfer refused", "bad"],
    hangup: ["Hung up", "outcome"], fallback: ["Handed to the fallback", "bad"], error: ["Flow error", "bad"],
    dial: ["Outbound call", ""],
  };
  const outcomeWords = {
    transferred: "transferred", hangup: "ivrd hung up", caller_hangup: "the caller hung up",
    failed: "failed", fallback: "handed to the fallback",
  };
  // Prompt texts ([prompts] in ivrd.toml), read once: a voice file chain
  // shows what its files say, when the configuration says it.
  let promptTexts = null;
  async function loadPromptTexts() {
    if (promptTexts === null) {
      try {
        promptTexts = (await api("GET", "/api/v1/prompts")).prompts || {};
      } catch (e) {
        if (e instanceof SignedOut) throw e;
        promptTexts = {};
      }
    }
    return promptTexts;
  }
  function promptText(chain) {
    const said = String(chain).split("+").map((f) => (promptTexts || {})[f]).filter(Boolean);
    return said.length ? "“" + said.join(" ") + "”" : "";
  }

  function callPage(id) {
    let timer = null, gone = false;
    const box = el("div", { id: "call" }, el("p", { class: "muted" }, "Loading…"));
    main.replaceChildren(el("h1", {}, "Call ", el("small", { class: "mono" }, id)), box);
    async function load() {
      let c;
      try {
        await loadPromptTexts();
        c = await api("GET", "/api/v1/calls/" + encodeURIComponent(id));
      } catch (e) {
        if (!(e instanceof SignedOut)) box.replaceChildren(el("p", { id: "call-error", class: "error" }, e.message));
        return;
      }
      if (gone) return;
      draw(c);
      if (c.live) timer = setTimeout(load, 1000);
      // The OM sends its record when the call is over on the device (after
      // a transfer, when the agent hangs up): look again for a while.
      else if (!c.cdr && Date.now() - Date.parse(c.ended) < 10 * 60 * 1000) timer = setTimeout(load, 2000);
    }
    function draw(c) {
      const started = Date.parse(c.started);
      const facts = el("dl", { class: "facts", id: "call-facts" },
        el("dt", {}, "Caller"), el("dd", { id: "call-from" }, c.from || "—"),
        el("dt", {}, "Called"), el("dd", {}, c.to || "—"),
        el("dt", {}, "Direction"), el("dd", {}, c.direction === "out" ? "outbound" : "inbound"),
        el("dt", {}, "Flow"), el("dd", {}, flowCell(c)),
        el("dt", {}, "Device"), el("dd", {}, c.device + ", " + c.leg + (c.callid ? " (OM call " + c.callid + ")" : "")),
        el("dt", {}, "Started"), el("dd", {}, when(c.started)),
        c.live ? [el("dt", {}, "Now"), el("dd", { id: "call-now" }, step(c.activity))]
          : [el("dt", {}, "Ended"), el("dd", {}, when(c.ended) + " after " + secs(Date.parse(c.ended) - started)),
            el("dt", {}, "Outcome"), el("dd", { id: "call-outcome" }, (outcomeWords[c.outcome] || c.outcome) +
              (c.target ? " → " + c.target : ""))]);
      const items = (c.path || []).map((p) => {
        const [what, cls] = pathWords[p.kind] || [p.kind, ""];
        let value = p.value || "";
        if (p.kind === "hangup") value = p.value === "caller" ? "by the caller" : p.value ? p.value : "by ivrd";
        return el("li", { class: cls + " " + p.kind, "data-kind": p.kind },
          el("span", { class: "at" }, "+" + ((Date.parse(p.at) - started) / 1000).toFixed(1) + " s"), " ",
          el("span", { class: "what" }, what), " ", el("span", { class: "value mono" }, value),
          p.kind.startsWith("prompt") ? [" ", el("span", { class: "text" }, promptText(value))] : null);
      });
      if (c.live) {
        items.push(el("li", { class: "now" }, el("span", { class: "at" }, "now"), " ", el("span", { class: "what" }, "In the IVR:"),
          " ", step(c.activity)));
      } else if (c.outcome) {
        items.push(el("li", { class: "outcome" }, el("span", { class: "at" }, "+" + ((Date.parse(c.ended) - started) / 1000).toFixed(1) + " s"),
          " ", el("span", { class: "what" }, "Outcome:"), " ", outcomeWords[c.outcome] || c.outcome));
      }
      const cdr = c.cdr ? el("table", { id: "call-cdr" }, el("tbody", {},
        ...[["Record", c.cdr.id], ["Type", c.cdr.type], ["Route", c.cdr.route], ["Caller", c.cdr.cpn], ["Called", c.cdr.cdpn],
          ["Start", omTime(c.cdr.time_start)], ["End", omTime(c.cdr.time_end)], ["Duration", c.cdr.duration + " s"], ["Recording", c.cdr.recording]]
          .filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))))
        : el("p", { class: "muted", id: "call-cdr-none" }, c.live ? "The OM sends its record when the call is over." : "No record from the OM (yet).");
      box.replaceChildren(el("div", { class: "grid2" },
        el("div", { class: "card" }, facts),
        el("div", { class: "card" }, el("h2", {}, "The OM's call record"), cdr)),
      el("h2", {}, "Path ", el("small", { class: "muted" }, c.live ? "(live)" : "")),
      el("div", { class: "card" }, items.length ? el("ol", { class: "timeline", id: "timeline" }, items)
        : el("p", { class: "muted" }, "Nothing yet.")));
    }
    load();
    return () => { gone = true; clearTimeout(timer); };
  }

  // Calls: the history, searched by number and end time.
  function callsPage(params) {
    const number = el("input", { id: "search-number", type: "search", placeholder: "number", value: params.get("number") || "" });
    const since = el("input", { id: "search-since", type: "datetime-local", value: params.get("since") || "" });
    const until = el("input", { id: "search-until", type: "datetime-local", value: params.get("until") || "" });
    const form = el("form", { class: "toolbar", id: "search-form" },
      el("label", {}, "Number ", number), el("label", {}, "Ended from ", since), el("label", {}, "to ", until),
      el("button", { class: "primary", type: "submit", id: "search" }, "Search"));
    const body = el("tbody", { id: "calls-rows" });
    const more = el("button", { id: "calls-more", type: "button", hidden: true }, "Older calls");
    const err = el("p", { class: "error" });
    main.replaceChildren(el("h1", {}, "Calls ", el("small", {}, "ended calls, newest first")), form, err,
      el("table", { id: "calls-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Ended"), el("th", {}, "Caller"),
        el("th", {}, "Called"), el("th", {}, "Flow"), el("th", {}, "Outcome"), el("th", { class: "num" }, "In the IVR"))), body),
      el("div", { class: "toolbar" }, more));
    let next = "", gone = false;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      if (number.value.trim()) q.set("number", number.value.trim());
      if (since.value) q.set("since", since.value);
      if (until.value) q.set("until", until.value);
      const h = "#/calls" + (q.toString() ? "?" + q : "");
      if (location.hash === h) search(false); else location.hash = h;
    });
    more.addEventListener("click", () => search(true));
    async function search(older) {
      const q = new URLSearchParams({ limit: "50" });
      if (number.value.trim()) q.set("number", number.value.trim());
      // datetime-local is the browser's local time; the API takes RFC 3339.
      if (since.value) q.set("since", new Date(since.value).toISOString());
      if (until.value) q.set("until", new Date(until.value).toISOString());
      if (older && next) q.set("before", next);
      err.textContent = "";
      let list;
      try { list = await api("GET", "/api/v1/history?" + q); } catch (e) {
        if (!(e instanceof SignedOut)) err.textContent = e.message;
        return;
      }
      if (gone) return;
      next = list.next || "";
      more.hidden = !next;
      const rows = list.calls.map((c) => el("tr", { "data-id": c.id },
        el("td", {}, el("a", { href: "#/call/" + encodeURIComponent(c.id) }, when(c.ended))),
        el("td", {}, c.from), el("td", {}, c.to), el("td", {}, flowCell(c)),
        el("td", {}, (outcomeWords[c.outcome] || c.outcome || "") + (c.target ? " → " + c.target : "")),
        el("td", { class: "num" }, secs(Date.parse(c.ended) - Date.parse(c.started)))));
      if (older) body.append(...rows);
      else body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No ended call matches."))]));
    }
    search(false);
    return () => { gone = true; };
  }

  // Flows: the catalogue, files that do not load, and a rescan.
  function flowsPage() {
    const body = el("tbody", { id: "flows-rows" });
    const reload = el("button", { id: "reload", class: "primary", type: "button" }, "Reload flows");
    const msg = el("span", { id: "reload-result", class: "muted" });
    let gone = false;
    main.replaceChildren(el("h1", {}, "Flows"), el("div", { class: "toolbar" }, reload, msg),
      el("table", { id: "flows-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Flow"), el("th", {}, "Version"),
        el("th", {}, "Live calls"), el("th", {}, "File"), el("th", {}, "Load error"))), body),
      el("p", { class: "muted" }, "A new version serves new calls; calls in progress keep the version they started with (Live calls counts them by version). " +
        "A file that does not load keeps its previous version serving."));
    // versions counts the live calls of each flow by the version they run.
    function versions(f, live) {
      const by = new Map();
      for (const c of live) if (c.flow === f.name) by.set(c.flow_hash, (by.get(c.flow_hash) || 0) + 1);
      if (by.size === 0) return el("span", { class: "muted" }, "none");
      return [...by].map(([hash, n], i) => el("span", { class: hash === f.hash ? "" : "older" }, i ? ", " : "",
        n + " on ", el("code", { title: hash }, hash === f.hash ? "this version" : short(hash))));
    }
    async function draw(list) {
      let live = [];
      try { live = (await api("GET", "/api/v1/calls")).calls; } catch (e) { if (e instanceof SignedOut) return; }
      if (gone) return;
      body.replaceChildren(...list.flows.map((f) => el("tr", { "data-flow": f.name },
        el("td", {}, f.name), el("td", {}, el("code", { title: f.hash }, short(f.hash) || "—")),
        el("td", { class: "live" }, versions(f, live)),
        el("td", { class: "mono" }, f.path || ""), el("td", { class: "error mono" }, f.error || ""))));
    }
    async function load() {
      try { const l = await api("GET", "/api/v1/flows"); if (!gone) await draw(l); } catch (e) {
        if (!(e instanceof SignedOut)) msg.textContent = e.message;
      }
    }
    reload.addEventListener("click", async () => {
      reload.disabled = true;
      msg.className = "muted";
      msg.textContent = "Rescanning…";
      try {
        const l = await api("POST", "/api/v1/flows/reload");
        if (gone) return;
        await draw(l);
        const failed = l.flows.filter((f) => f.error).length;
        msg.className = failed ? "error" : "ok";
        msg.textContent = "Reloaded at " + new Date().toLocaleTimeString() + ": " + l.flows.length + " flows" +
          (failed ? ", " + failed + " failing to load" : "");
      } catch (e) {
        if (!(e instanceof SignedOut)) { msg.className = "error"; msg.textContent = e.message; }
      } finally {
        reload.disabled = false;
      }
    });
    load();
    return () => { gone = true; };
  }

  // Pages in files of their own (jobs.js, …) register here: name is the
  // #/name of their URL and the nav entry's key, title the nav's text, and
  // open(params, rest) draws the page into main and returns a function
  // that stops its timers and streams. Their nav entries follow the
  // built-in ones, in the order the scripts load (index.html). A page
  // that is not always there hides its entry and asks the API on the
  // "ivrd:signedin" event (document), sent at each sign-in.
  const pages = Object.create(null); // no "constructor" page from Object.prototype
  function page(name, title, open) {
    pages[name] = open;
    document.getElementById("nav").append(el("a", { href: "#/" + name, "data-page": name }, title));
  }
  window.ivrdConsole = { el, api, page, secs, when, short, omTime, step, flowCell, outcomeWords, SignedOut, main };

  function route() {
    if (!csrf) return;
    stop();
    const hash = location.hash.replace(/^#/, "") || "/live";
    const [path, query] = hash.split("?");
    const params = new URLSearchParams(query || "");
    let current = path.split("/")[1];
    if (pages[current]) {
      leave = pages[current](params, decodeURIComponent(path.slice(current.length + 2)));
    } else if (path.startsWith("/call/")) {
      leave = callPage(decodeURIComponent(path.slice("/call/".length)));
      current = "calls";
    } else if (path === "/calls") {
      leave = callsPage(params);
    } else if (path === "/flows") {
      leave = flowsPage();
    } else {
      current = "live";
      leave = livePage();
    }
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === current);
    document.title = "ivrd · " + (document.querySelector("#nav a.active") || {}).textContent;
  }
  window.addEventListener("hashchange", route);

  (async function start() {
    // The pages' own scripts run after this one (defer keeps their order):
    // route once they have registered.
    if (document.readyState === "loading") {
      await new Promise((done) => document.addEventListener("DOMContentLoaded", done));
    }
    try {
      const s = await api("GET", "/api/v1/session");
      csrf = s.csrf;
      top.hidden = false;
      document.dispatchEvent(new Event("ivrd:signedin"));
      route();
    } catch (e) {
      signIn("");
    }
  })();
})();
