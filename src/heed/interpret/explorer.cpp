// The explorer page: one self-contained HTML file (no network, no CDN) built from the
// explanation's JSON documents. Its script draws everything in the browser and marks
// <body data-ready="1"> when done (tests load it in headless Chromium and read that mark); any
// script error sets data-error instead.
#include <nlohmann/json.hpp>
#include <string>

#include "heed/interpret/explorer.h"

namespace heed::interpret {

namespace {
// JSON inside <script>: "</" would end the element early.
std::string script_json(const nlohmann::json& j) {
  std::string s = j.dump();
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

const char* kHead = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>heed explain</title>
<style>
body { font: 14px "DejaVu Sans", sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin: 20px 0 8px; }
.panel { display: inline-block; margin: 0 16px 8px 0; vertical-align: top; text-align: center; }
.tokens span { padding: 1px 2px; margin: 1px; display: inline-block; border-radius: 2px; }
#model canvas { margin: 2px; cursor: pointer; border: 1px solid #ccc; }
#model canvas.selected { border-color: #d00; }
#model .row { white-space: nowrap; display: flex; align-items: center; }
#model .label { display: inline-block; width: 60px; vertical-align: middle; }
svg text { font-size: 11px; }
.note { color: #666; font-size: 12px; }
</style></head>
<body>
<h1 id="title">heed explain</h1>
<div class="note" id="input"></div>
<h2>Relevance of each input token to the prediction, by method</h2>
<div id="methods"></div>
<div id="patch-section" hidden>
<h2>Patch view: click a patch to see where it attends (layer and head below)</h2>
<canvas id="patches"></canvas>
</div>
<h2>Head view</h2>
<div>layer <select id="layer"></select> head <select id="head"></select>
<span class="note">lines from each token (left) to the tokens it attends to (right); opacity = weight</span></div>
<svg id="headview" xmlns="http://www.w3.org/2000/svg"></svg>
<h2>Model view: every layer and head (click one to open it in the head view)</h2>
<div id="model"></div>
)HTML";

const char* kScript = R"JS(
<script>
(function () {
  "use strict";
  window.addEventListener("error", function (e) { document.body.dataset.error = String(e.message); });
  var attention = JSON.parse(document.getElementById("attention-data").textContent);
  var relevance = JSON.parse(document.getElementById("relevance-data").textContent);
  var image = JSON.parse(document.getElementById("image-data").textContent);
  var tokens = attention.tokens, layers = attention.attention;
  var T = tokens.length, L = layers.length, H = layers[0].length;
  var state = { layer: L - 1, head: "mean", query: null };

  var anchors = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(x) {
    if (!(x >= 0)) x = 0; if (x > 1) x = 1;
    var t = x * 4, i = Math.min(3, Math.floor(t)), f = t - i, c = [];
    for (var k = 0; k < 3; k++) c.push(Math.round(anchors[i][k] * (1 - f) + anchors[i + 1][k] * f));
    return c;
  }
  function css(c, a) { return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + (a === undefined ? 1 : a) + ")"; }
  function normalise(v) {
    var lo = Math.min.apply(null, v), hi = Math.max.apply(null, v), d = hi > lo ? hi - lo : 1;
    return v.map(function (x) { return (x - lo) / d; });
  }
  function matrix(layer, head) {  // [T][T] for a head or the head mean
    if (head !== "mean") return layers[layer][head];
    var m = [];
    for (var i = 0; i < T; i++) {
      var row = new Array(T).fill(0);
      for (var h = 0; h < H; h++) for (var j = 0; j < T; j++) row[j] += layers[layer][h][i][j] / H;
      m.push(row);
    }
    return m;
  }
  function el(tag, attrs, parent) {
    var e = attrs && attrs.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (var k in attrs) if (k !== "svg" && k !== "text") e.setAttribute(k, attrs[k]);
    if (attrs && attrs.text !== undefined) e.textContent = attrs.text;
    if (parent) parent.appendChild(e);
    return e;
  }
  // The input image with a grid of values over it (bilinear is the PNG's; here, flat patches).
  function drawImage(canvas, values, scale, alpha) {
    var w = image.width, h = image.height, c = image.channels, px = image.pixels;
    canvas.width = w * scale; canvas.height = h * scale;
    var g = canvas.getContext("2d"), data = g.createImageData(w, h);
    for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) {
      var o = (y * w + x) * 4;
      for (var k = 0; k < 3; k++) data.data[o + k] = Math.round(255 * px[(c === 3 ? k : 0) * h * w + y * w + x]);
      data.data[o + 3] = 255;
    }
    var tmp = document.createElement("canvas"); tmp.width = w; tmp.height = h;
    tmp.getContext("2d").putImageData(data, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(tmp, 0, 0, w * scale, h * scale);
    if (!values) return;
    var rows = relevance.grid.rows, cols = relevance.grid.cols, n = normalise(values);
    var cw = canvas.width / cols, ch = canvas.height / rows;
    for (var r = 0; r < rows; r++) for (var q = 0; q < cols; q++) {
      g.fillStyle = css(colour(n[r * cols + q]), alpha);
      g.fillRect(q * cw, r * ch, cw, ch);
    }
  }

  document.getElementById("title").textContent = "predicted " + relevance.predicted.name + " (" +
      (100 * relevance.predicted.probability).toFixed(1) + "%)" +
      (relevance.explained.class !== relevance.predicted.class ? ", explaining " + relevance.explained.name : "");
  document.getElementById("input").textContent = "input: " + relevance.input + "; relevance of each token to " +
      relevance.query_token + "'s output";

  // Relevance methods side by side.
  var methods = document.getElementById("methods");
  // The order of the PNG (JSON objects come sorted by key).
  ["attention", "rollout", "gradient_rollout"].filter(function (k) { return k in relevance.methods; }).forEach(function (name) {
    var panel = el("div", { "class": "panel" }, methods);
    var values = relevance.methods[name].tokens;
    if (image && relevance.grid) {
      drawImage(el("canvas", {}, panel), values, 8, 0.55);
    } else {
      var box = el("div", { "class": "tokens", style: "max-width: 720px; text-align: left" }, panel), n = normalise(values);
      relevance.tokens.forEach(function (t, i) {
        var c = colour(n[i]);
        el("span", { style: "background:" + css(c, 0.85) + ";color:" + (n[i] > 0.6 ? "#000" : "#fff"), title: values[i].toFixed(4), text: t }, box);
      });
    }
    el("div", { text: name }, panel);
  });

  // Selectors.
  var layerSelect = document.getElementById("layer"), headSelect = document.getElementById("head");
  for (var l = 0; l < L; l++) el("option", { value: l, text: l }, layerSelect);
  el("option", { value: "mean", text: "mean" }, headSelect);
  for (var h = 0; h < H; h++) el("option", { value: h, text: h }, headSelect);
  layerSelect.value = state.layer; headSelect.value = state.head;
  function select(layer, head) {
    state.layer = layer; state.head = head;
    layerSelect.value = layer; headSelect.value = head;
    drawHeadView(); drawPatches(); markModel();
  }
  layerSelect.onchange = function () { select(+layerSelect.value, state.head); };
  headSelect.onchange = function () { select(state.layer, headSelect.value === "mean" ? "mean" : +headSelect.value); };

  // Head view: tokens on both sides, lines with opacity = weight.
  function drawHeadView() {
    var svg = document.getElementById("headview");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var rowH = 14, left = 110, right = 360, top = 10;
    svg.setAttribute("width", right + 120); svg.setAttribute("height", top + T * rowH + 10);
    var m = matrix(state.layer, state.head);
    for (var i = 0; i < T; i++) {
      el("text", { svg: 1, x: left - 6, y: top + i * rowH + 10, "text-anchor": "end", text: tokens[i] }, svg);
      el("text", { svg: 1, x: right + 6, y: top + i * rowH + 10, text: tokens[i] }, svg);
    }
    for (var a = 0; a < T; a++) for (var b = 0; b < T; b++) {
      var w = m[a][b];
      if (w < 0.01 || (state.query !== null && a !== state.query)) continue;
      el("line", { svg: 1, x1: left, y1: top + a * rowH + 6, x2: right, y2: top + b * rowH + 6,
                   stroke: "#1f5fbf", "stroke-width": 2, "stroke-opacity": Math.min(1, w).toFixed(3) }, svg);
    }
  }

  // Model view: a thumbnail per layer and head.
  var model = document.getElementById("model"), thumbs = [];
  for (var ml = 0; ml < L; ml++) {
    var row = el("div", { "class": "row" }, model);
    el("span", { "class": "label", text: "layer " + ml }, row);
    for (var mh = 0; mh < H; mh++) {
      var c = el("canvas", { width: 72, height: 72, title: "layer " + ml + " head " + mh }, row);
      var g = c.getContext("2d"), mat = layers[ml][mh], hi = 0;
      for (var i2 = 0; i2 < T; i2++) for (var j2 = 0; j2 < T; j2++) hi = Math.max(hi, mat[i2][j2]);
      var cell = 72 / T;
      for (var i3 = 0; i3 < T; i3++) for (var j3 = 0; j3 < T; j3++) {
        g.fillStyle = css(colour(hi > 0 ? mat[i3][j3] / hi : 0));
        g.fillRect(j3 * cell, i3 * cell, Math.ceil(cell), Math.ceil(cell));
      }
      c.onclick = (function (layer, head) { return function () { select(layer, head); }; })(ml, mh);
      thumbs.push({ canvas: c, layer: ml, head: mh });
    }
  }
  function markModel() {
    thumbs.forEach(function (t) {
      t.canvas.className = t.layer === state.layer && (state.head === "mean" || t.head === state.head) ? "selected" : "";
    });
  }

  // Patch view (images): where the clicked patch attends in the selected layer and head.
  function drawPatches() {
    if (!image || !relevance.grid) return;
    var canvas = document.getElementById("patches"), rows = relevance.grid.rows, cols = relevance.grid.cols;
    var q = state.query === null ? 0 : state.query;  // 0: the class token
    var m = matrix(state.layer, state.head), values = [];
    for (var j = 1; j < T; j++) values.push(m[q][j]);
    drawImage(canvas, values, 12, 0.5);
    var g = canvas.getContext("2d"), cw = canvas.width / cols, ch = canvas.height / rows;
    g.strokeStyle = "rgba(255,255,255,0.35)";
    for (var r = 0; r <= rows; r++) { g.beginPath(); g.moveTo(0, r * ch); g.lineTo(canvas.width, r * ch); g.stroke(); }
    for (var k = 0; k <= cols; k++) { g.beginPath(); g.moveTo(k * cw, 0); g.lineTo(k * cw, canvas.height); g.stroke(); }
    if (q > 0) {
      g.strokeStyle = "#ff3030"; g.lineWidth = 2;
      g.strokeRect(((q - 1) % cols) * cw, Math.floor((q - 1) / cols) * ch, cw, ch);
    }
  }
  if (image && relevance.grid) {
    var patchCanvas = document.getElementById("patches");
    document.getElementById("patch-section").hidden = false;
    patchCanvas.onclick = function (ev) {
      var rect = patchCanvas.getBoundingClientRect();
      var col = Math.floor((ev.clientX - rect.left) / rect.width * relevance.grid.cols);
      var rw = Math.floor((ev.clientY - rect.top) / rect.height * relevance.grid.rows);
      var q = 1 + rw * relevance.grid.cols + col;
      state.query = state.query === q ? null : q;
      drawHeadView(); drawPatches();
    };
  }

  select(state.layer, state.head);
  document.body.dataset.ready = "1";
})();
</script>
</body></html>
)JS";
}  // namespace

std::string explorer_html(const nlohmann::json& attention, const nlohmann::json& relevance,
                          const nlohmann::json& image) {
  std::string page = kHead;
  page += "<script id=\"attention-data\" type=\"application/json\">" + script_json(attention) + "</script>\n";
  page += "<script id=\"relevance-data\" type=\"application/json\">" + script_json(relevance) + "</script>\n";
  page += "<script id=\"image-data\" type=\"application/json\">" + script_json(image) + "</script>\n";
  page += kScript;
  return page;
}

}  // namespace heed::interpret
