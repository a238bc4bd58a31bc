// The latentstream console: plain JS, no dependencies. Polls /console/api/stats for counters
// (turned into rates between polls) and listens to /console/api/events (server-sent events) for
// the tokens of recent requests.
"use strict";

const POLL_MS = 1000;
const HISTORY = 90; // samples per chart
const MAX_STREAMS = 30;
const SVG = "http://www.w3.org/2000/svg";

const series = { throughput: [], ttft: [], itl: [], mtp: [] };
let previous = null;

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function push(list, value) {
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

/** Draws line series (null values leave gaps) on a 320x120 chart with a max label. */
function drawChart(svg, lines, fixedMax) {
  svg.replaceChildren();
  const w = 320, h = 120, top = 12, bottom = 110, left = 4;
  let max = fixedMax || 0;
  if (!fixedMax) for (const l of lines) for (const v of l.values) if (v != null) max = Math.max(max, v);
  if (max <= 0) max = 1;
  el("line", { x1: left, y1: bottom, x2: w, y2: bottom, class: "axis" }, svg);
  el("line", { x1: left, y1: top, x2: w, y2: top, class: "axis", "stroke-dasharray": "2 3" }, svg);
  el("text", { x: w - 2, y: top - 3, "text-anchor": "end" }, svg).textContent = format(max);
  for (const l of lines) {
    const step = (w - left) / (HISTORY - 1);
    const offset = HISTORY - l.values.length;
    let points = [];
    const flush = () => {
      if (points.length === 1) {
        const [x, y] = points[0].split(",");
        el("circle", { cx: x, cy: y, r: 2.2, fill: l.color }, svg);
      } else if (points.length > 1) {
        el("polyline", { points: points.join(" "), stroke: l.color }, svg);
      }
      points = [];
    };
    l.values.forEach((v, i) => {
      if (v == null) return flush();
      const x = left + (offset + i) * step;
      const y = bottom - (v / max) * (bottom - top);
      points.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    flush();
    const last = l.values[l.values.length - 1];
    if (last != null) {
      el("text", { x: w - 2, y: bottom - 3 - 10 * lines.indexOf(l), "text-anchor": "end", fill: l.color },
         svg).textContent = format(last);
    }
  }
}

function format(v) {
  if (v >= 1000) return (v / 1000).toFixed(1) + "k";
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Heat colour from dark blue (0) through cyan to yellow (the layer's busiest expert). */
function heat(t) {
  const stops = [[20, 30, 48], [30, 110, 170], [79, 179, 255], [255, 220, 90]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return "rgb(" + c.join(",") + ")";
}

function drawHeatmap(stats) {
  const svg = document.getElementById("heatmap");
  const cell = 18, gap = 2, labelW = 92, labelH = 14;
  const experts = stats.experts, layers = stats.layers;
  const width = labelW + experts * (cell + gap), height = labelH + layers.length * (cell + gap);
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("height", height * 1.4);
  svg.replaceChildren();
  for (let e = 0; e < experts; e += experts > 32 ? 16 : 4) {
    el("text", { x: labelW + e * (cell + gap), y: labelH - 4 }, svg).textContent = e;
  }
  layers.forEach((layer, i) => {
    const row = stats.routed[i];
    const total = row.reduce((a, b) => a + b, 0);
    const busiest = Math.max(...row);
    const y = labelH + i * (cell + gap);
    const mtp = layer === stats.mtpLayer;
    el("text", { x: 0, y: y + cell - 5 }, svg).textContent = "layer " + layer + (mtp ? " (MTP)" : "");
    row.forEach((count, e) => {
      const r = el("rect", {
        x: labelW + e * (cell + gap), y, width: cell, height: cell, rx: 2,
        fill: busiest > 0 ? heat(count / busiest) : heat(0),
        "data-layer": layer, "data-expert": e, "data-count": count, class: "cell",
      }, svg);
      el("title", {}, r).textContent = "layer " + layer + ", expert " + e + ": " + count +
        " tokens (" + (total > 0 ? (100 * count / total).toFixed(1) : "0") + "% of the layer)";
    });
  });
}

async function poll() {
  try {
    const response = await fetch("api/stats", { cache: "no-store" });
    const stats = await response.json();
    document.getElementById("model").textContent = stats.modelId;
    document.getElementById("running").textContent = stats.running;
    document.getElementById("waiting").textContent = stats.waiting;
    document.getElementById("tokens").textContent = Math.round(stats.tokens);
    document.getElementById("acceptance").textContent = stats.drafted > 0
      ? (100 * stats.accepted / stats.drafted).toFixed(0) + "%" : "–";
    if (previous) {
      const seconds = Math.max(0.001, (stats.atMs - previous.atMs) / 1000);
      const ratio = (num, den) => (den > 0 ? num / den : null);
      push(series.throughput, (stats.tokens - previous.tokens) / seconds);
      push(series.ttft, ratio(stats.firstTokenTotalMs - previous.firstTokenTotalMs,
                              stats.firstTokenCount - previous.firstTokenCount));
      push(series.itl, ratio(stats.interTokenTotalMs - previous.interTokenTotalMs,
                             stats.interTokenCount - previous.interTokenCount));
      push(series.mtp, ratio(stats.accepted - previous.accepted, stats.drafted - previous.drafted));
      drawChart(document.getElementById("chart-throughput"),
                [{ values: series.throughput, color: "#7fd962" }]);
      drawChart(document.getElementById("chart-latency"),
                [{ values: series.ttft, color: "#ffb454" }, { values: series.itl, color: "#4fb3ff" }]);
      drawChart(document.getElementById("chart-mtp"), [{ values: series.mtp, color: "#c792ea" }], 1);
    }
    drawHeatmap(stats);
    previous = stats;
  } catch (e) {
    console.warn("stats poll failed", e);
  }
  setTimeout(poll, POLL_MS);
}

const streams = new Map();

function streamFor(event) {
  let entry = streams.get(event.requestId);
  if (!entry) {
    const li = document.createElement("li");
    li.dataset.requestId = event.requestId;
    const meta = document.createElement("div");
    meta.className = "meta";
    const text = document.createElement("div");
    text.className = "text";
    li.append(meta, text);
    const list = document.getElementById("streams");
    list.prepend(li);
    entry = { li, meta, text, tokens: 0, prompt: 0 };
    streams.set(event.requestId, entry);
    while (list.children.length > MAX_STREAMS) {
      const old = list.lastElementChild;
      streams.delete(old.dataset.requestId);
      old.remove();
    }
  }
  return entry;
}

function describe(entry, event, status) {
  entry.meta.innerHTML = "";
  const id = document.createElement("b");
  id.textContent = event.requestId;
  entry.meta.append(id, (event.sessionId ? " · session " + event.sessionId : "") +
    " · " + entry.prompt + " prompt tokens · " + entry.tokens + " generated · " + status);
}

function onEvent(event) {
  const entry = streamFor(event);
  if (event.type === "start") {
    entry.prompt = event.index;
    describe(entry, event, "generating");
  } else if (event.type === "token") {
    const span = document.createElement("span");
    span.textContent = event.text || "";
    if (event.draft) span.className = "draft";
    entry.text.appendChild(span);
    entry.tokens++;
    describe(entry, event, "generating");
  } else if (event.type === "end") {
    entry.li.classList.add("done");
    entry.li.dataset.finish = event.text;
    describe(entry, event, event.text.toLowerCase());
  }
}

function connect() {
  const source = new EventSource("api/events");
  const pill = document.getElementById("connection");
  source.onopen = () => {
    // The server replays recent events on every (re)connection: start from a clean list.
    streams.clear();
    document.getElementById("streams").replaceChildren();
    pill.textContent = "live";
    pill.classList.add("live");
  };
  source.onerror = () => { pill.textContent = "reconnecting"; pill.classList.remove("live"); };
  source.onmessage = (message) => {
    if (message.data) onEvent(JSON.parse(message.data)); // keep-alives carry no data
  };
}

connect();
poll();
