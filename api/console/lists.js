// ivrd console: the Caller lists page. The block and allow lists ivrd
// applies before routing (README, "Caller lists"): each list with how many
// numbers it holds; one list's numbers with their notes, a form that puts a
// number on it and a button that takes one off. All through
// /api/v1/lists.
"use strict";

(function () {
  const c = window.ivrdConsole;
  const { el, api, when, SignedOut } = c;

  function listsPage(params, rest) {
    const err = el("p", { class: "error", id: "lists-error" });
    const names = el("nav", { id: "lists-names", class: "toolbar" }, el("span", { class: "muted" }, "Loading…"));
    const box = el("div", { id: "list-box" });
    c.main.replaceChildren(el("h1", {}, "Caller lists ", el("small", {}, "applied before routing")), err, names, box);
    let gone = false;
    let current = rest || "";

    async function load() {
      try {
        const set = await api("GET", "/api/v1/lists");
        if (gone) return;
        err.textContent = "";
        drawNames(set.lists);
        if (!current && set.lists.length > 0) current = set.lists[0].name;
        await loadList();
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        names.replaceChildren();
        err.textContent = e.status === 501 ? "This ivrd keeps no caller lists." : e.message;
      }
    }

    function drawNames(lists) {
      if (lists.length === 0) {
        names.replaceChildren(el("span", { class: "muted" }, "No list yet: add a number below to start one."));
        return;
      }
      names.replaceChildren(...lists.map((l) => el("a", {
        href: "#/lists/" + encodeURIComponent(l.name), class: l.name === current ? "active" : "", "data-list": l.name,
      }, l.name, " ", el("small", { class: "muted" }, "(" + l.count + ")"))));
    }

    async function loadList() {
      const form = addForm();
      if (!current) {
        box.replaceChildren(form);
        return;
      }
      try {
        const l = await api("GET", "/api/v1/lists/" + encodeURIComponent(current));
        if (gone) return;
        box.replaceChildren(el("h2", {}, l.name), entries(l), form);
      } catch (e) {
        if (e instanceof SignedOut || gone) return;
        box.replaceChildren(el("p", { class: "error" }, e.message), form);
      }
    }

    function entries(l) {
      if (l.entries.length === 0) return el("p", { class: "muted", id: "list-empty" }, "No number is on this list.");
      return el("table", { id: "list-rows" },
        el("thead", {}, el("tr", {}, el("th", {}, "Number"), el("th", {}, "Note"), el("th", {}, "Added"), el("th", {}, ""))),
        el("tbody", {}, l.entries.map((e) => el("tr", { "data-number": e.number },
          el("td", { class: "mono" }, e.number), el("td", {}, e.note || ""), el("td", {}, when(e.added)),
          el("td", {}, el("button", { type: "button", class: "remove", onclick: (ev) => remove(l.name, e.number, ev.target) }, "Remove"))))));
    }

    function addForm() {
      const list = el("input", { id: "list-name", name: "list", value: current, placeholder: "blocked", required: true });
      const number = el("input", { id: "list-number", name: "number", placeholder: "+8613900000009", required: true });
      const note = el("input", { id: "list-note", name: "note", placeholder: "why (optional)" });
      const msg = el("span", { class: "error", id: "list-form-error" });
      const form = el("form", { id: "list-add", class: "toolbar" }, list, number, note,
        el("button", { type: "submit", class: "primary" }, "Add"), msg);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        msg.textContent = "";
        const body = note.value ? { note: note.value } : undefined;
        try {
          await api("PUT", "/api/v1/lists/" + encodeURIComponent(list.value.trim()) + "/" + encodeURIComponent(number.value.trim()), body);
          if (gone) return;
          if (current !== list.value.trim()) {
            location.hash = "#/lists/" + encodeURIComponent(list.value.trim());
            return;
          }
          await load();
        } catch (e) {
          if (e instanceof SignedOut || gone) return;
          msg.textContent = (e.field ? e.field + ": " : "") + e.message;
        }
      });
      return form;
    }

    async function remove(name, number, button) {
      button.disabled = true;
      try {
        await api("DELETE", "/api/v1/lists/" + encodeURIComponent(name) + "/" + encodeURIComponent(number));
        if (!gone) await load();
      } catch (e) {
        if (!(e instanceof SignedOut) && !gone) err.textContent = e.message;
        button.disabled = false;
      }
    }

    load();
    return () => { gone = true; };
  }

  c.page("lists", "Caller lists", listsPage);
})();
