// ivrd console: the Devices page. Each OM: whether ivrd reaches it (its
// answer to Query DeviceInfo, asked once a minute, or now with "Check
// now"), what it is, its last report and BOOTUP, the menus ivrd assigned
// on it and its extensions' last reported states. All from
// GET /api/v1/devices.
"use strict";

(function () {
  const c = window.ivrdConsole;
  const { el, api, when, SignedOut } = c;

  // The Devices and Phone pages share one style sheet.
  if (!document.getElementById("phone-css")) {
    document.head.append(el("link", { id: "phone-css", rel: "stylesheet", href: "/console/phone.css" }));
  }

  const reachWords = { yes: "reachable", no: "not reachable", unknown: "not checked yet" };
  const purposeWords = { prompts: "prompts and keys (play, gather)", park: "parked calls, outbound calls ringing", other: "other" };

  function devicesPage() {
    const box = el("div", { id: "devices" }, el("p", { class: "muted" }, "Loading…"));
    const err = el("p", { class: "error", id: "devices-error" });
    main().replaceChildren(el("h1", {}, "Devices ", el("small", {}, "the OMs ivrd drives")), err, box);
    let timer = null, gone = false;

    async function load() {
      clearTimeout(timer);
      try {
        const list = await api("GET", "/api/v1/devices");
        if (gone) return;
        err.textContent = "";
        draw(list.devices);
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        err.textContent = e.message;
      }
      if (!gone) timer = setTimeout(load, 5000);
    }

    async function check(name, button) {
      button.disabled = true;
      try {
        await api("POST", "/api/v1/devices/" + encodeURIComponent(name) + "/check");
        if (!gone) await load();
      } catch (e) {
        if (!(e instanceof SignedOut) && !gone) err.textContent = e.message;
      } finally {
        button.disabled = false;
      }
    }

    function facts(d) {
      const reach = el("span", { class: "pill reach-" + d.reachable, id: "reach-" + d.name }, reachWords[d.reachable] || d.reachable);
      const rows = [
        ["Reachable", [reach, d.latency_ms ? " " + d.latency_ms.toFixed(1) + " ms" : "",
          d.error ? el("span", { class: "error" }, " " + d.error) : ""]],
        ["Checked", d.checked ? when(d.checked) : "—"],
        ["Address", el("span", { class: "mono" }, d.url)],
        ["Model", [d.manufacturer, d.model].filter(Boolean).join(" ") || "—"],
        ["Firmware", d.firmware || "—"],
        ["MAC", d.mac || "—"],
        ["Last report", d.last_report ? when(d.last_report) : "none since ivrd started"],
        ["Last BOOTUP", d.last_bootup ? when(d.last_bootup) : "none since ivrd started"],
        ["Calls in the IVR", String(d.live_calls)],
      ];
      return el("dl", { class: "facts" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    }

    function menus(d) {
      const head = el("h2", {}, "Menus ", el("small", { class: "muted" }, "ids " + d.menu_range[0] + "–" + d.menu_range[1] +
        " are ivrd's; " + d.menus.length + " assigned"));
      if (d.menus.length === 0) return [head, el("p", { class: "muted" }, "None assigned yet (ivrd assigns them at start, on first use and after each BOOTUP).")];
      return [head, el("table", { class: "menus" }, el("thead", {}, el("tr", {}, el("th", { class: "num" }, "Id"), el("th", {}, "Used for"),
        el("th", {}, "Repeat"), el("th", {}, "Keys per report"), el("th", {}, "Exit key"))),
      el("tbody", {}, d.menus.map((m) => el("tr", {}, el("td", { class: "num" }, String(m.id)),
        el("td", {}, purposeWords[m.purpose] || m.purpose),
        el("td", {}, m.repeat === 0 ? "loops" : String(m.repeat)), el("td", {}, String(m.infolength)), el("td", {}, m.exit || "none")))))];
    }

    function exts(d) {
      const head = el("h2", {}, "Extensions ", el("small", { class: "muted" }, "as the device last reported them"));
      if (d.exts.length === 0) return [head, el("p", { class: "muted" }, "No extension known yet: the device lists them when it answers, and reports their changes.")];
      return [head, el("ul", { class: "exts", id: "exts-" + d.name }, d.exts.map((x) =>
        el("li", { class: "ext " + x.state, "data-ext": x.id, title: x.state }, el("b", {}, x.id), " ", x.state)))];
    }

    function draw(devices) {
      if (devices.length === 0) {
        box.replaceChildren(el("p", { class: "muted" }, "No device is configured."));
        return;
      }
      box.replaceChildren(...devices.map((d) => {
        const button = el("button", { type: "button", class: "check", id: "check-" + d.name }, "Check now");
        button.addEventListener("click", () => check(d.name, button));
        return el("section", { class: "device card", "data-device": d.name },
          el("div", { class: "toolbar" }, el("h2", {}, d.name, d.simulated ? el("small", { class: "muted" }, " simulated in this process") : ""),
            el("span", { class: "grow" }), button),
          el("div", { class: "grid2" }, el("div", {}, facts(d)), el("div", {}, menus(d))),
          exts(d));
      }));
    }

    load();
    return () => { gone = true; clearTimeout(timer); };
  }

  function main() { return c.main; }

  c.page("devices", "Devices", devicesPage);
})();
