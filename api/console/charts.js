// Bar charts as SVG, for the reports pages (surveys.js, funnel.js): no
// library, a few rectangles and labels. Colours come from reports.css,
// which this file also loads (the pages' CSP allows this origin's sheets).
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  if (!document.querySelector('link[href="/console/reports.css"]')) {
    const l = document.createElement("link");
    l.rel = "stylesheet";
    l.href = "/console/reports.css";
    document.head.append(l);
  }

  // svg builds an SVG element; text goes in as text.
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const k of kids.flat()) {
      if (k === null || k === undefined) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  // columns draws one bar per item, left to right: items are
  // { label, value, title }. The tallest bar fills the chart; a zero
  // shows as a hairline so every answer keeps its place.
  function columns(items, opt) {
    opt = opt || {};
    const bw = 34, gap = 12, top = 18, h = opt.height || 140, bottom = 22;
    const width = Math.max(opt.minWidth || 0, items.length * (bw + gap) + gap);
    const max = Math.max(1, ...items.map((i) => i.value));
    const root = svg("svg", { class: "chart columns", width, height: top + h + bottom, viewBox: `0 0 ${width} ${top + h + bottom}`,
      role: "img", "aria-label": opt.label || "" });
    root.append(svg("line", { class: "axis", x1: 0, x2: width, y1: top + h + 0.5, y2: top + h + 0.5 }));
    items.forEach((it, i) => {
      const x = gap + i * (bw + gap);
      const bh = it.value > 0 ? Math.max(2, Math.round((it.value / max) * h)) : 1;
      const g = svg("g", { class: "bar", "data-label": it.label, "data-value": it.value },
        svg("title", {}, it.title || it.label + ": " + it.value),
        svg("rect", { x, y: top + h - bh, width: bw, height: bh, class: it.value > 0 ? "fill" : "zero" }),
        svg("text", { class: "value", x: x + bw / 2, y: top + h - bh - 4, "text-anchor": "middle" }, it.value),
        svg("text", { class: "label", x: x + bw / 2, y: top + h + 15, "text-anchor": "middle" }, it.label));
      root.append(g);
    });
    return root;
  }

  // rows draws one horizontal bar per item, top to bottom: items are
  // { label, value, part, title }; part (drawn over the bar's end in the
  // warning colour) is a share of value, like the callers who hung up
  // among those who reached a prompt.
  function rows(items, opt) {
    opt = opt || {};
    const labelW = opt.labelWidth || 180, barW = opt.barWidth || 420, rh = 26, textW = 190;
    const width = labelW + barW + textW, height = Math.max(1, items.length) * rh + 4;
    const max = Math.max(1, ...items.map((i) => i.value));
    const root = svg("svg", { class: "chart rows", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": opt.label || "" });
    items.forEach((it, i) => {
      const y = 2 + i * rh;
      const w = it.value > 0 ? Math.max(2, Math.round((it.value / max) * barW)) : 1;
      const pw = it.part > 0 ? Math.max(2, Math.round((it.part / max) * barW)) : 0;
      root.append(svg("g", { class: "bar", "data-label": it.label, "data-value": it.value, "data-part": it.part || 0 },
        svg("title", {}, it.title || it.label + ": " + it.value),
        svg("text", { class: "label", x: labelW - 8, y: y + 16, "text-anchor": "end" }, it.label),
        svg("rect", { class: it.value > 0 ? "fill" : "zero", x: labelW, y: y + 3, width: w, height: rh - 8 }),
        pw ? svg("rect", { class: "part", x: labelW + w - pw, y: y + 3, width: pw, height: rh - 8 }) : null,
        svg("text", { class: "value", x: labelW + w + 6, y: y + 16 }, it.text || it.value)));
    });
    return root;
  }

  // periods are the ranges the reports offer; range turns one (with the
  // custom inputs' values) into the API's since and until.
  const periods = [["all", "All time"], ["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["custom", "Between…"]];
  function range(period, since, until) {
    const now = new Date();
    const q = {};
    if (period === "today") q.since = new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
    if (period === "7d") q.since = new Date(now.getTime() - 7 * 864e5).toISOString();
    if (period === "30d") q.since = new Date(now.getTime() - 30 * 864e5).toISOString();
    if (period === "custom") {
      // datetime-local is the browser's local time; the API takes RFC 3339.
      if (since) q.since = new Date(since).toISOString();
      if (until) q.until = new Date(until).toISOString();
    }
    return q;
  }

  window.ivrdCharts = { svg, columns, rows, periods, range };
})();
