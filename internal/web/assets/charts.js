// Blackwell dashboard charts: plain SVG built in the browser, no library.
//
// Every chart is readable without colour: each series has its own dash
// pattern and marker shape (lines) or fill pattern (bars), named in a
// legend that draws the same pattern, and the numbers are in a data table
// under the chart. A chart without any data says "No data yet" instead of
// drawing empty axes; one point is drawn as its marker.
"use strict";

(() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, L = 48, R = 12, T = 12, B = 28;

  function el(tag, attrs, ...children) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function html(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  // Line styles and bar fills, by series index.
  const DASHES = ["", "6 4", "2 3", "10 3 2 3"];
  const MARKERS = ["circle", "square", "triangle", "diamond"];
  const FILLS = ["solid", "hatch", "dots", "cross", "vlines"];

  function marker(kind, x, y, cls) {
    const s = 3.5;
    switch (kind) {
      case "square": return el("rect", { x: x - s, y: y - s, width: 2 * s, height: 2 * s, class: cls });
      case "triangle": return el("path", { d: `M ${x} ${y - s - 1} L ${x + s + 1} ${y + s} L ${x - s - 1} ${y + s} Z`, class: cls });
      case "diamond": return el("path", { d: `M ${x} ${y - s - 1} L ${x + s + 1} ${y} L ${x} ${y + s + 1} L ${x - s - 1} ${y} Z`, class: cls });
      default: return el("circle", { cx: x, cy: y, r: s, class: cls });
    }
  }

  // patterns defines the fill patterns of a chart, ids prefixed by id.
  function patterns(id) {
    const p = (name, ...shapes) => el("pattern", { id: id + "-" + name, width: 6, height: 6, patternUnits: "userSpaceOnUse" },
      el("rect", { width: 6, height: 6, class: "pat-bg" }), ...shapes);
    return el("defs", {},
      p("solid", el("rect", { width: 6, height: 6, class: "pat-ink" })),
      p("hatch", el("path", { d: "M -1 7 L 7 -1 M -1 1 L 1 -1 M 5 7 L 7 5", class: "pat-line" })),
      p("dots", el("circle", { cx: 3, cy: 3, r: 1.4, class: "pat-ink" })),
      p("cross", el("path", { d: "M 0 3 L 6 3 M 3 0 L 3 6", class: "pat-line" })),
      p("vlines", el("path", { d: "M 1.5 0 L 1.5 6 M 4.5 0 L 4.5 6", class: "pat-line" })));
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function timeLabel(iso, stepSeconds) {
    const d = new Date(iso);
    if (stepSeconds >= 86400) return d.toLocaleDateString([], { month: "short", day: "numeric" });
    if (stepSeconds >= 3600 * 3) return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + d.toLocaleTimeString([], { hour: "2-digit" });
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // frame draws the axes and grid of a chart over n buckets up to yMax.
  function frame(svgEl, buckets, stepSeconds, yMax, fmt) {
    const n = buckets.length;
    const x = (i) => L + (W - L - R) * (n <= 1 ? 0.5 : (i + 0.5) / n);
    const y = (v) => T + (H - T - B) * (1 - v / yMax);
    for (const f of [0, 0.5, 1]) {
      svgEl.append(el("line", { x1: L, x2: W - R, y1: y(f * yMax), y2: y(f * yMax), class: "grid" }));
      svgEl.append(el("text", { x: L - 6, y: y(f * yMax) + 4, "text-anchor": "end", class: "axis" }, fmt(f * yMax)));
    }
    const every = Math.max(1, Math.ceil(n / 6));
    for (let i = 0; i < n; i += every) {
      svgEl.append(el("text", { x: x(i), y: H - 8, "text-anchor": "middle", class: "axis" }, timeLabel(buckets[i].start, stepSeconds)));
    }
    return { x, y };
  }

  function legend(items) {
    return html("ul", { class: "chart-legend" }, items.map((it) => html("li", {},
      it.sample, " ", it.name)));
  }

  function lineSample(i) {
    return el("svg", { width: 34, height: 12, viewBox: "0 0 34 12", "aria-hidden": "true", class: "chart-sample s" + i },
      el("line", { x1: 1, x2: 33, y1: 6, y2: 6, class: "series", "stroke-dasharray": DASHES[i % DASHES.length] || null }),
      marker(MARKERS[i % MARKERS.length], 17, 6, "mark"));
  }

  function barSample(id, i) {
    return el("svg", { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true", class: "chart-sample b" + i },
      patterns(id + "-sample" + i),
      el("rect", { x: 1, y: 1, width: 12, height: 12, class: "bar", fill: "url(#" + id + "-sample" + i + "-" + FILLS[i % FILLS.length] + ")" }));
  }

  // dataTable lists the buckets that have data, behind a disclosure.
  function dataTable(title, buckets, stepSeconds, series, fmt) {
    const rows = [];
    buckets.forEach((b, i) => {
      const vals = series.map((s) => s.values[i]);
      if (vals.every((v) => v === null || v === undefined || v === 0)) return;
      rows.push(html("tr", {}, html("th", { scope: "row" }, timeLabel(b.start, stepSeconds)),
        vals.map((v) => html("td", { class: "num" }, v === null || v === undefined ? "—" : fmt(v)))));
    });
    return html("details", { class: "chart-data" }, html("summary", {}, "Data table"),
      html("div", { class: "wrap", tabindex: "0" }, html("table", {},
        html("caption", {}, title + " (buckets with data)"),
        html("thead", {}, html("tr", {}, html("th", { scope: "col" }, "From"), series.map((s) => html("th", { scope: "col" }, s.name)))),
        html("tbody", {}, rows))));
  }

  // figure wraps a chart (or the "no data yet" note) with its heading.
  function figure(id, title, body) {
    return html("figure", { class: "chart-box", id, "data-chart": id },
      html("figcaption", {}, title), body);
  }

  function noData(id, title, why) {
    return figure(id, title, html("p", { class: "nodata", "data-nodata": "" }, why || "No data yet."));
  }

  // lineChart: opts {id, title, buckets, step, series: [{name, values}],
  // yMax (optional), fmt}. Values are numbers or null (no data: a gap).
  function lineChart(opts) {
    const fmt = opts.fmt || ((v) => String(Math.round(v * 100) / 100));
    const present = opts.series.some((s) => s.values.some((v) => v !== null && v !== undefined));
    if (!present || opts.buckets.length === 0) return noData(opts.id, opts.title, opts.empty);
    const max = opts.yMax || niceMax(Math.max(...opts.series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined))));
    const root = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": opts.id + "-t " + opts.id + "-d" });
    const summary = opts.series.map((s) => {
      const vals = s.values.filter((v) => v !== null && v !== undefined);
      return s.name + ": " + (vals.length === 0 ? "no data" : "last " + fmt(vals[vals.length - 1]) + ", highest " + fmt(Math.max(...vals)));
    }).join("; ");
    root.append(el("title", { id: opts.id + "-t" }, opts.title), el("desc", { id: opts.id + "-d" }, summary + "."));
    const { x, y } = frame(root, opts.buckets, opts.step, max, fmt);
    opts.series.forEach((s, si) => {
      const g = el("g", { class: "s" + si, "data-series": s.name });
      let run = [];
      const flush = () => {
        if (run.length > 1) g.append(el("polyline", { points: run.join(" "), class: "series", "stroke-dasharray": DASHES[si % DASHES.length] || null }));
        run = [];
      };
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { flush(); return; }
        const px = x(i), py = y(Math.min(v, max));
        run.push(px.toFixed(1) + "," + py.toFixed(1));
        // Markers on the points that say something: every point of a
        // short series, else the non-zero ones (and a lone point).
        const lone = (i === 0 || s.values[i - 1] === null || s.values[i - 1] === undefined) &&
          (i === s.values.length - 1 || s.values[i + 1] === null || s.values[i + 1] === undefined);
        if (s.values.length <= 16 || v !== 0 || lone) g.append(marker(MARKERS[si % MARKERS.length], px, py, "mark"));
      });
      flush();
      root.append(g);
    });
    return figure(opts.id, opts.title, [root,
      legend(opts.series.map((s, i) => ({ name: s.name, sample: lineSample(i) }))),
      dataTable(opts.title, opts.buckets, opts.step, opts.series, fmt)]);
  }

  // barChart: stacked bars, opts as lineChart; values are counts.
  function barChart(opts) {
    const fmt = opts.fmt || ((v) => String(v));
    const totals = opts.buckets.map((_, i) => opts.series.reduce((n, s) => n + (s.values[i] || 0), 0));
    if (opts.series.length === 0 || totals.every((v) => v === 0)) return noData(opts.id, opts.title, opts.empty);
    const max = niceMax(Math.max(...totals));
    const root = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": opts.id + "-t " + opts.id + "-d" });
    root.append(el("title", { id: opts.id + "-t" }, opts.title),
      el("desc", { id: opts.id + "-d" }, opts.series.map((s) => s.name + ": " + s.values.reduce((a, b) => a + (b || 0), 0)).join("; ") + " in the window."),
      patterns(opts.id));
    const { x, y } = frame(root, opts.buckets, opts.step, max, fmt);
    const bw = Math.max(2, (W - L - R) / Math.max(1, opts.buckets.length) * 0.7);
    opts.buckets.forEach((_, i) => {
      let base = 0;
      opts.series.forEach((s, si) => {
        const v = s.values[i] || 0;
        if (v === 0) return;
        const y0 = y(base), y1 = y(base + v);
        root.append(el("rect", { x: (x(i) - bw / 2).toFixed(1), y: y1.toFixed(1), width: bw.toFixed(1), height: Math.max(1, y0 - y1).toFixed(1),
          class: "bar b" + si, fill: "url(#" + opts.id + "-" + FILLS[si % FILLS.length] + ")", "data-series": s.name },
        el("title", {}, s.name + ": " + v)));
        base += v;
      });
    });
    return figure(opts.id, opts.title, [root,
      legend(opts.series.map((s, i) => ({ name: s.name, sample: barSample(opts.id, i) }))),
      dataTable(opts.title, opts.buckets, opts.step, opts.series, fmt)]);
  }

  window.BlackwellCharts = { lineChart, barChart, niceMax };
})();
