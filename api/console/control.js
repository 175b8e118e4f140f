// ivrd console: the Call control page, what a CRM does through the admin
// API, by hand: click-to-call (an extension rings, then calls a number or
// another extension: POST /api/v1/dial, /api/v1/connect) with the recent
// ones followed from GET /api/v1/dials, and agent call control on the call
// an extension is in (hold, unhold, hang up, transfer, supervise: POST
// /api/v1/devices/{name}/extensions/{ext}/…). README, "Click-to-call" and
// "Agent call control".
"use strict";

(function () {
  const c = window.ivrdConsole;
  const { el, api, when, SignedOut } = c;

  const stateWords = {
    placing: "placing", placed: "placed", ext_ringing: "extension ringing", ext_answered: "extension answered",
    ringing: "far end ringing", answered: "talking", ended: "ended",
  };

  function controlPage() {
    const err = el("p", { class: "error", id: "control-error" });
    const device = el("select", { id: "control-device", name: "device" });
    const ext = el("input", { id: "control-ext", name: "ext", placeholder: "201", size: 8, required: true });
    const who = el("div", { class: "toolbar" }, el("label", {}, "Device ", device), el("label", {}, "Extension ", ext));

    // Click-to-call.
    const number = el("input", { id: "dial-number", name: "number", placeholder: "13800000001 or 9,13800000001" });
    const trunk = el("input", { id: "dial-trunk", name: "trunk", placeholder: "trunk (optional)", size: 12 });
    const toExt = el("input", { id: "connect-ext", name: "to_ext", placeholder: "202", size: 8 });
    const dialMsg = el("span", { class: "error", id: "dial-error" });
    const dialForm = el("form", { id: "dial-form", class: "toolbar" }, el("label", {}, "Call ", number), trunk,
      el("button", { type: "submit", class: "primary", id: "dial" }, "Call the number"),
      el("label", {}, "or extension ", toExt), el("button", { type: "button", id: "connect", onclick: () =>
        place("/api/v1/connect", { device: device.value, from_ext: ext.value.trim(), to_ext: toExt.value.trim() }) }, "Call the extension"), dialMsg);
    const dials = el("tbody", { id: "dial-rows" });

    // Agent call control.
    const kind = el("select", { id: "transfer-kind" }, ["ext", "group", "flow"].map((k) => el("option", { value: k }, k)));
    const target = el("input", { id: "transfer-to", placeholder: "202", size: 10 });
    const supervisor = el("input", { id: "supervisor", placeholder: "200", size: 8 });
    const mode = el("select", { id: "supervise-mode" }, ["monitor", "talk", "listen", "bargein"].map((m) => el("option", { value: m }, m)));
    const agentMsg = el("p", { id: "agent-result" });
    const button = (id, text, onclick) => el("button", { type: "button", id, onclick }, text);
    const agent = el("div", { class: "card", id: "agent" },
      el("div", { class: "toolbar" }, button("hold", "Hold", () => act("hold")), button("unhold", "Unhold", () => act("unhold")),
        button("hangup", "Hang up", () => act("hangup"))),
      el("div", { class: "toolbar" }, el("label", {}, "Transfer to ", kind), target,
        button("transfer", "Transfer", () => act("transfer", { [kind.value]: target.value.trim() }))),
      el("div", { class: "toolbar" }, el("label", {}, "Supervisor ", supervisor), mode,
        button("supervise", "Supervise", () => act("supervise", { supervisor: supervisor.value.trim(), mode: mode.value }))),
      agentMsg);

    c.main.replaceChildren(el("h1", {}, "Call control ", el("small", {}, "click-to-call and an agent's call")), err, who,
      el("h2", {}, "Click-to-call ", el("small", { class: "muted" }, "the extension rings first; once it answers, the OM calls out")),
      el("div", { class: "card" }, dialForm,
        el("table", { id: "dial-table" }, el("thead", {}, el("tr", {}, el("th", {}, "Placed"), el("th", {}, "Extension"),
          el("th", {}, "Calls"), el("th", {}, "State"), el("th", {}, "Outcome"), el("th", {}, ""))), dials)),
      el("h2", {}, "The extension's call ", el("small", { class: "muted" }, "an agent's call: each asks the OM for it first")),
      agent);
    let timer = null, gone = false;

    function base() {
      return "/api/v1/devices/" + encodeURIComponent(device.value) + "/extensions/" + encodeURIComponent(ext.value.trim());
    }
    function problem(e) {
      return (e.field ? e.field + ": " : "") + e.message + (e.reason ? " (" + e.reason + ")" : "");
    }

    async function act(action, body) {
      if (!ext.value.trim()) { // the extension is part of the path: no request can name it missing
        agentMsg.className = "error";
        agentMsg.textContent = "ext: give the extension whose call to act on";
        return;
      }
      agentMsg.className = "";
      agentMsg.textContent = "…";
      try {
        const r = await api("POST", base() + "/" + action, body);
        if (gone) return;
        const parts = [r.action || action, "done"];
        if (r.leg) parts.push("on " + r.leg + (r.from ? " from " + r.from : ""));
        if (r.target) parts.push("→ " + r.target);
        if (r.call_id) parts.push("(IVR call " + r.call_id + ")");
        if (r.supervisor) parts.push("supervisor " + r.supervisor + " " + r.mode);
        agentMsg.textContent = parts.join(" ");
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        agentMsg.className = "error";
        agentMsg.textContent = problem(e);
      }
    }

    async function place(path, body) {
      dialMsg.textContent = "";
      try {
        await api("POST", path, body);
        if (!gone) await loadDials();
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        dialMsg.textContent = problem(e);
        await loadDials(); // a refused one is listed too
      }
    }
    dialForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = { device: device.value, ext: ext.value.trim(), number: number.value.trim() };
      if (trunk.value.trim()) body.trunk = trunk.value.trim();
      place("/api/v1/dial", body);
    });

    async function hangUp(id, b) {
      b.disabled = true;
      try {
        await api("DELETE", "/api/v1/dials/" + encodeURIComponent(id));
        if (!gone) await loadDials();
      } catch (e) {
        if (!(e instanceof SignedOut) && !gone) dialMsg.textContent = problem(e);
        b.disabled = false;
      }
    }

    async function loadDials() {
      clearTimeout(timer);
      try {
        const l = await api("GET", "/api/v1/dials?limit=10");
        if (gone) return;
        dials.replaceChildren(...(l.dials.length ? l.dials.map((d) => el("tr", { "data-dial": d.id, "data-state": d.state },
          el("td", {}, when(d.placed)), el("td", {}, d.device + " " + d.ext),
          el("td", { class: "mono" }, d.number || (d.to_ext ? "ext " + d.to_ext : "")),
          el("td", {}, stateWords[d.state] || d.state),
          el("td", {}, [d.outcome, d.reason].filter(Boolean).join(": ") + (d.duration > 0 ? " " + c.secs(d.duration * 1000) : "")),
          el("td", {}, d.state === "ended" ? "" : el("button", { type: "button", class: "cancel", onclick: (ev) => hangUp(d.id, ev.target) }, "Hang up"))))
          : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No click-to-call yet."))]));
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        err.textContent = e.status === 501 ? "This ivrd offers no click-to-call." : e.message;
      }
      if (!gone) timer = setTimeout(loadDials, 2000);
    }

    (async () => {
      try {
        const l = await api("GET", "/api/v1/devices");
        if (gone) return;
        device.replaceChildren(...l.devices.map((d) => el("option", { value: d.name }, d.name)));
      } catch (e) {
        if (!(e instanceof SignedOut) && !gone) err.textContent = e.message;
      }
    })();
    loadDials();
    return () => { gone = true; clearTimeout(timer); };
  }

  c.page("control", "Call control", controlPage);
})();
