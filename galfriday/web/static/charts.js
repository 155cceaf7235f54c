/*
 * The dashboard's charts, drawn as inline SVG into the <svg> elements of index.html.
 *
 * Rules:
 * - Each function redraws its chart from scratch from the data it is given (no state here).
 * - Coordinates are in the SVG's viewBox units; the CSS scales the drawing to the card.
 * - Values are floats only for placing marks; labels that show money come in as text.
 */
"use strict";

const CHART_SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#6aa6e8", "#e3a534", "#3fb67a", "#c678dd", "#e0605a", "#56b6c2"];

function mark(parent, tag, attrs = {}, text) {
  const node = document.createElementNS(CHART_SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  parent.append(node);
  return node;
}

function box(svg) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  svg.replaceChildren();
  return { width, height };
}

function ago(seconds) {
  return seconds >= 60 ? `-${Math.round(seconds / 60)} min` : `-${Math.round(seconds)} s`;
}

function shortNumber(value) {
  const size = Math.abs(value);
  if (size >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (size >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (size >= 100) return value.toFixed(0);
  if (size >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

// The health timeline: one band per connection, coloured by what it was at each moment
// ("down" whenever the socket was not subscribed), from `now - window` to `now` (seconds).
function drawHealth(svg, series, now, window) {
  const { width, height } = box(svg);
  const names = Object.keys(series);
  const left = 60;
  const band = Math.min(28, (height - 14) / Math.max(1, names.length));
  const x = (t) => left + ((t - (now - window)) / window) * (width - left);
  names.forEach((name, row) => {
    const y = 2 + row * band;
    mark(svg, "text", { x: 2, y: y + band / 2 + 3 }, name);
    const samples = series[name];
    samples.forEach((sample, i) => {
      const from = Math.max(sample.t, now - window);
      const to = i + 1 < samples.length ? samples[i + 1].t : now;
      if (to <= from) return;
      let kind = sample.health || "starting";
      if (sample.state && sample.state !== "subscribed" && kind !== "unhealthy") kind = "down";
      const rect = mark(svg, "rect", {
        x: x(from), y, width: Math.max(1, x(to) - x(from)), height: band - 4, class: kind,
      });
      mark(rect, "title", {}, `${name}: ${sample.state || "?"} / ${sample.health || "?"}`);
    });
  });
  for (const tick of [window, window / 2, 0]) {
    mark(svg, "text", { x: Math.min(x(now - tick), width - 30), y: height - 2 }, tick ? ago(tick) : "now");
  }
}

// Lines over time: `series` is {name: [{t, v, text?}]}; the legend shows each line's last value.
function drawLines(svg, legend, series, now, window, unit, zeroLine = false) {
  const { width, height } = box(svg);
  const left = 40;
  const bottom = height - 14;
  const values = Object.values(series).flat().map((p) => p.v).filter(Number.isFinite);
  let low = Math.min(0, ...values);
  let high = Math.max(0, ...values);
  if (high === low) high = low + 1;
  const x = (t) => left + ((t - (now - window)) / window) * (width - left - 4);
  const y = (v) => bottom - ((v - low) / (high - low)) * (bottom - 6);
  for (const level of [low, (low + high) / 2, high]) {
    mark(svg, "line", { x1: left, x2: width, y1: y(level), y2: y(level), class: "grid" });
    mark(svg, "text", { x: 2, y: y(level) + 3 }, shortNumber(level));
  }
  if (zeroLine && low < 0) mark(svg, "line", { x1: left, x2: width, y1: y(0), y2: y(0), class: "grid", "stroke-dasharray": "3 3" });
  mark(svg, "text", { x: left, y: height - 2 }, ago(window));
  mark(svg, "text", { x: width - 24, y: height - 2 }, "now");
  const keys = [];
  Object.entries(series).forEach(([name, points], i) => {
    const colour = PALETTE[i % PALETTE.length];
    const shown = points.filter((p) => Number.isFinite(p.v) && p.t >= now - window);
    if (shown.length) {
      const path = shown.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
      mark(svg, "polyline", { points: path, class: "line", stroke: colour });
    }
    const last = points[points.length - 1];
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    const text = last ? (last.text ?? shortNumber(last.v)) : "–";
    keys.push(swatch, `${name} ${text}${unit ? ` ${unit}` : ""}`);
  });
  if (legend) legend.replaceChildren(...keys);
}

// A depth chart: cumulative quantity from the best price outwards, bids left, asks right.
function drawDepth(svg, bids, asks) {
  const { width, height } = box(svg);
  const bottom = height - 14;
  const side = (levels) => {
    let total = 0;
    return (levels || []).map(([price, qty]) => ({ price: Number(price), total: (total += Number(qty)) }));
  };
  const b = side(bids);
  const a = side(asks);
  if (!b.length && !a.length) {
    mark(svg, "text", { x: width / 2 - 30, y: height / 2 }, "no levels");
    return;
  }
  const prices = [...b, ...a].map((l) => l.price);
  const lowPrice = Math.min(...prices);
  const highPrice = Math.max(...prices);
  const span = highPrice - lowPrice || 1;
  const most = Math.max(...[...b, ...a].map((l) => l.total)) || 1;
  const x = (p) => 4 + ((p - lowPrice) / span) * (width - 8);
  const y = (q) => bottom - (q / most) * (bottom - 8);
  const area = (levels, cls) => {
    if (!levels.length) return;
    let path = `M${x(levels[0].price)},${bottom}`;
    let previous = 0;
    for (const level of levels) {
      path += ` L${x(level.price)},${y(previous)} L${x(level.price)},${y(level.total)}`;
      previous = level.total;
    }
    const edge = levels[levels.length - 1].price;
    path += ` L${x(edge)},${bottom} Z`;
    mark(svg, "path", { d: path, class: cls });
  };
  area(b, "bid-area");
  area(a, "ask-area");
  const lowest = (b.length ? bids[b.length - 1] : asks[0])[0];
  const highest = (a.length ? asks[a.length - 1] : bids[0])[0];
  mark(svg, "text", { x: 4, y: height - 2 }, lowest);
  mark(svg, "text", { x: width - 4, y: height - 2, "text-anchor": "end" }, highest);
  mark(svg, "text", { x: 4, y: 10 }, `depth ${shortNumber(most)}`);
}

// Reconciliation runs as bars, oldest left: discrepancies stacked by severity; a clean run
// is a short green bar, a failed one grey. `runs`: [{status, counts: {severity: n}, label}].
function drawReconciliations(svg, runs, severities) {
  const { width, height } = box(svg);
  const bottom = height - 4;
  if (!runs.length) {
    mark(svg, "text", { x: width / 2 - 40, y: height / 2 }, "no runs yet");
    return;
  }
  const most = Math.max(1, ...runs.map((r) => severities.reduce((n, s) => n + (r.counts[s] || 0), 0)));
  const step = width / Math.max(runs.length, 20);
  const unit = (bottom - 12) / most;
  runs.forEach((run, i) => {
    const x = i * step + 1;
    const bar = Math.max(2, step - 2);
    let top = bottom;
    const found = severities.reduce((n, s) => n + (run.counts[s] || 0), 0);
    if (run.status === "failed" || !found) {
      const rect = mark(svg, "rect", { x, y: bottom - 6, width: bar, height: 6, class: run.status === "failed" ? "failed" : "clean" });
      mark(rect, "title", {}, run.label);
      return;
    }
    for (const severity of severities.slice().reverse()) {
      const n = run.counts[severity] || 0;
      if (!n) continue;
      top -= n * unit;
      const rect = mark(svg, "rect", { x, y: top, width: bar, height: n * unit, class: `sev-${severity}` });
      mark(rect, "title", {}, `${run.label}: ${n} ${severity}`);
    }
  });
  mark(svg, "text", { x: 2, y: 10 }, `max ${most}`);
}
