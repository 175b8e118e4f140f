// ivrd console: the Phone page. When a simulated OM runs inside ivrd (as
// in "ivrd demo"), the admin listener serves its control API under /sim/
// and this page is a caller on it: dial a number into the IVR, press
// keys, see (and read, with the configuration's prompt texts) each
// prompt as it plays, hang up; and answer the calls ivrd places to this
// phone's number. GET /api/v1/phone says whether there is a simulator;
// without one the page is not in the nav.
"use strict";

(function () {
  const c = window.ivrdConsole;
  const { el, api, SignedOut } = c;

  if (!document.getElementById("phone-css")) {
    document.head.append(el("link", { id: "phone-css", rel: "stylesheet", href: "/console/phone.css" }));
  }

  // What outlives a visit to another page: the simulator, this phone's
  // number and the call on it.
  let info = null; // GET /api/v1/phone, null while unknown or absent
  let number = localStorage.getItem("ivrd.phone.number") || "13900000001";
  let current = null; // the simulator's id of the call on this phone

  c.page("phone", "Phone", phonePage);
  const navLink = document.querySelector('#nav a[data-page="phone"]');
  navLink.hidden = true;

  // available asks whether a simulator runs in ivrd, and shows the page's
  // nav entry only when one does.
  async function available() {
    try {
      info = await api("GET", "/api/v1/phone");
    } catch (e) {
      info = null;
    }
    navLink.hidden = !info;
    return info;
  }
  document.addEventListener("ivrd:signedin", available);

  const stateWords = {
    invite: "calling ivrd…", incoming: "answered; waiting for ivrd", waiting: "on hold",
    menu: "listening", parked: "waiting for keys", ringing: "ringing", talking: "talking",
    queued: "queued", answered: "answered", ended: "call ended", held: "held by the extension",
  };
  const keyIDs = { "*": "star", "#": "hash" };

  function phonePage() {
    let gone = false, timer = null, watchTimer = null, texts = {}, lastCall = null, linked = "";
    const from = el("input", { id: "phone-from", value: number, inputmode: "tel", autocomplete: "off", size: 14 });
    const to = el("input", { id: "phone-to", value: info ? info.trunk : "", inputmode: "tel", autocomplete: "off", size: 14 });
    const status = el("div", { id: "phone-status", class: "display" }, "idle");
    const typed = el("div", { id: "phone-keys", class: "typed mono" }, "");
    const keypad = el("div", { id: "keypad", class: "keypad" },
      ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"].map((k) =>
        el("button", { type: "button", "data-key": k, id: "key-" + (keyIDs[k] || k) }, k)));
    const callBtn = el("button", { id: "phone-call", type: "button", class: "primary call" }, "Call");
    const answerBtn = el("button", { id: "phone-answer", type: "button", class: "primary call", hidden: true }, "Answer");
    const hangBtn = el("button", { id: "phone-hangup", type: "button", class: "hangup", disabled: true }, "Hang up");
    const err = el("p", { id: "phone-error", class: "error" });
    const heard = el("ol", { id: "phone-heard", class: "heard" });
    const link = el("p", { id: "phone-link", class: "muted" }, "");
    const flowSel = el("select", { id: "phone-flow" });
    const callMe = el("button", { id: "phone-callme", type: "button" }, "Call this phone");
    const callMeMsg = el("span", { id: "phone-callme-result", class: "muted" });

    main().replaceChildren(
      el("h1", {}, "Phone ", el("small", { id: "phone-device" }, "")),
      err,
      el("div", { class: "phone-grid" },
        el("div", { class: "card phone" },
          el("label", {}, "This phone's number", from),
          el("label", {}, "Dial", to),
          status, typed, keypad,
          el("div", { class: "toolbar" }, callBtn, answerBtn, hangBtn)),
        el("div", { class: "card" },
          el("h2", {}, "What you hear"), heard, link,
          el("h2", {}, "Have ivrd call this phone"),
          el("div", { class: "toolbar" }, el("label", {}, "Flow ", flowSel), callMe, callMeMsg),
          el("p", { class: "muted" }, "Calls ivrd places to this phone's number ring here until you answer (the number is set to " +
            "answer by hand on the simulator); other simulated numbers answer by themselves."))));

    function fail(e) {
      if (!(e instanceof SignedOut) && !gone) err.textContent = e.message;
    }

    // Keys are sent one request at a time, in the order pressed.
    let sending = Promise.resolve();
    function press(k) {
      if (!current) return;
      const id = current;
      sending = sending.then(() => api("POST", "/sim/calls/" + encodeURIComponent(id) + "/keys", { keys: k })
        .then(draw).catch(fail));
    }
    for (const b of keypad.querySelectorAll("button")) b.addEventListener("click", () => press(b.dataset.key));
    function onKey(ev) {
      if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (/^[0-9*#]$/.test(ev.key)) { press(ev.key); ev.preventDefault(); }
    }
    document.addEventListener("keydown", onKey);

    // This phone's number answers by hand: ivrd's calls to it ring here.
    async function claim() {
      const n = from.value.trim();
      if (!/^[0-9]+$/.test(n)) { err.textContent = "This phone's number: digits only."; return; }
      number = n;
      localStorage.setItem("ivrd.phone.number", n);
      try {
        await api("PUT", "/sim/numbers/" + encodeURIComponent(n), { answer: "manual" });
        err.textContent = "";
      } catch (e) { fail(e); }
    }
    from.addEventListener("change", claim);

    callBtn.addEventListener("click", async () => {
      err.textContent = "";
      callBtn.disabled = true;
      try {
        const r = await api("POST", "/sim/calls", { from: from.value.trim(), to: to.value.trim() });
        follow(r.id);
      } catch (e) {
        fail(e);
        callBtn.disabled = false;
      }
    });
    hangBtn.addEventListener("click", async () => {
      if (!current) return;
      try { draw(await api("POST", "/sim/calls/" + encodeURIComponent(current) + "/hangup")); } catch (e) { fail(e); }
    });
    answerBtn.addEventListener("click", async () => {
      if (!current) return;
      try { draw(await api("POST", "/sim/calls/" + encodeURIComponent(current) + "/answer")); poll(); } catch (e) { fail(e); }
    });
    callMe.addEventListener("click", async () => {
      callMeMsg.className = "muted";
      callMeMsg.textContent = "";
      try {
        const j = await api("POST", "/api/v1/calls", { to: number, flow: flowSel.value, device: info ? info.device : undefined });
        callMeMsg.className = "ok";
        callMeMsg.textContent = "job " + j.id + ", " + j.state;
        watch();
      } catch (e) {
        if (!(e instanceof SignedOut)) { callMeMsg.className = "error"; callMeMsg.textContent = e.message; }
      }
    });

    // draw shows a call as the simulator sees it.
    function draw(call) {
      if (gone || !call) return;
      lastCall = call;
      const live = call.state !== "ended";
      const ringingHere = call.direction === "out" && call.state === "ringing";
      let words = stateWords[call.state] || call.state;
      if (call.connected && !call.connected.startsWith("menu ") && (call.state === "talking" || call.state === "ringing")) {
        words += " · " + call.connected;
      }
      if (call.state === "talking" && call.hears && call.hears.length > 1) {
        words += " · you hear " + call.hears.join(" and "); // a supervisor barged in
      }
      if (ringingHere) words = "ivrd is calling you";
      if (!live && call.end_reason) words += " (" + call.end_reason + ")";
      status.textContent = words;
      status.className = "display " + call.state;
      status.dataset.state = call.state;
      typed.textContent = call.keys ? "keys pressed: " + call.keys : "";
      callBtn.disabled = live;
      hangBtn.disabled = !live;
      answerBtn.hidden = !ringingHere;
      callBtn.hidden = ringingHere;
      heard.replaceChildren(...heardItems(call));
      if (live && !linked) findInConsole(call);
    }

    // heardItems lists the files played, the current one marked; runs of
    // the silence a parked call loops in are shown once.
    function heardItems(call) {
      const out = [];
      const list = call.heard || [];
      for (let i = 0; i < list.length; i++) {
        const h = list[i];
        const last = i === list.length - 1;
        if (h.file === "silence" && i > 0 && list[i - 1].file === "silence") continue;
        const playing = last && !h.completed && call.state === "menu";
        const text = texts[h.file];
        out.push(el("li", { class: playing ? "playing" : h.completed ? "" : "cut" },
          el("code", {}, h.file), " ",
          text ? el("span", { class: "text" }, "“" + text + "”") : el("span", { class: "muted" }, h.file === "silence" ? "(silence)" : "(no text in [prompts])"),
          playing ? el("span", { class: "now" }, " ▶ playing") : "",
          !h.completed && !playing ? el("span", { class: "muted" }, " (cut off)") : ""));
      }
      if (out.length === 0) out.push(el("li", { class: "muted" }, call.state === "ended" ? "Nothing." : "Nothing yet."));
      return out;
    }

    // findInConsole links the call to its page in the console, once ivrd
    // has it (same device, same leg).
    let finding = false;
    async function findInConsole(call) {
      if (!call.leg || !info || finding) return;
      finding = true;
      try {
        const list = await api("GET", "/api/v1/calls");
        const mine = list.calls.find((x) => x.device === info.device && x.leg === call.leg);
        if (!mine || gone || linked) return;
        linked = mine.id;
        link.replaceChildren("In the console: ", el("a", { id: "phone-call-link", href: "#/call/" + encodeURIComponent(mine.id) },
          "this call's path"), " (flow " + mine.flow + ")");
      } catch (e) {
        /* the link is a convenience */
      } finally {
        finding = false;
      }
    }

    // follow makes a call the one on this phone.
    function follow(id) {
      if (id !== current) {
        current = id;
        linked = "";
        link.replaceChildren();
        heard.replaceChildren();
      }
      poll();
    }

    // poll follows the call on this phone until it ends, then watches for
    // ivrd calling.
    async function poll() {
      clearTimeout(timer);
      clearTimeout(watchTimer);
      if (gone || !current) return;
      let call;
      try {
        call = await api("GET", "/sim/calls/" + encodeURIComponent(current));
      } catch (e) {
        fail(e);
        if (!gone) timer = setTimeout(poll, 1000);
        return;
      }
      draw(call);
      if (gone) return;
      if (call.state === "ended") { watch(); return; }
      timer = setTimeout(poll, 250);
    }

    // watch looks for a call ivrd places to this phone's number.
    async function watch() {
      clearTimeout(watchTimer);
      if (gone) return;
      try {
        const calls = await api("GET", "/sim/calls");
        const ringing = calls.find((x) => x.direction === "out" && x.to === number && x.state !== "ended");
        if (ringing && !gone && (!lastCall || lastCall.state === "ended" || lastCall.id === ringing.id)) {
          follow(ringing.id);
          return;
        }
      } catch (e) { fail(e); }
      if (!gone) watchTimer = setTimeout(watch, 1000);
    }

    (async function start() {
      const p = info || await available();
      if (gone) return;
      if (!p) {
        main().replaceChildren(el("h1", {}, "Phone"), el("p", { id: "phone-none", class: "muted" },
          "No simulated OM runs inside this ivrd, so there is no phone to call from. Run \"ivrd demo\" to try flows from the console."));
        return;
      }
      document.getElementById("phone-device").textContent = "a caller on the simulated OM " + p.device + " (trunk " + p.trunk + ")";
      if (!to.value) to.value = p.trunk;
      try { texts = (await api("GET", "/api/v1/prompts")).prompts; } catch (e) { fail(e); }
      try {
        const fl = await api("GET", "/api/v1/flows");
        flowSel.replaceChildren(...fl.flows.filter((f) => f.hash).map((f) => el("option", { value: f.name }, f.name)));
      } catch (e) { fail(e); }
      await claim();
      if (current) poll(); else watch();
    })();

    return () => {
      gone = true;
      clearTimeout(timer);
      clearTimeout(watchTimer);
      document.removeEventListener("keydown", onKey);
    };
  }

  function main() { return c.main; }
})();
