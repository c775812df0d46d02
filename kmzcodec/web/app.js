// kmz gui: the page. The server encodes and measures; every result shown here is decoded in the
// page, with kmz.js, from the very .kmz bytes that the download button saves.
//
// Responsiveness: a change shows a preview first (the server encodes a copy of at most ~1 MP),
// then the full image. Each side counts its changes (generation); answers for an older
// generation are dropped, and at most one preview request per side is in flight: changes made
// meanwhile are folded into the next one. The server drops stale work the same way.

import { ApiError, Superseded, api } from "./api.js";
import { decode } from "./kmz.js";
import { fmtBytes, fmtPsnr, fmtSigned, showPalette } from "./numbers.js";
import { drawSweepChart } from "./chart.js";
import { applyView, fitView, wireViewer } from "./viewer.js";

const $ = (selector, root = document) => root.querySelector(selector);
const SIDES = ["a", "b"];
const SIDE_NAMES = { a: "A", b: "B" };
const DEFAULT_MODE = { a: "original", b: "encode" };
const DEFAULT_K = 16;
const TARGET_DEFAULTS = { psnr: 35, ssim: 0.95, ssimulacra2: 70 }; // bytes: a tenth of the file
const LABELS = {
  kmeans: "k-means", gmm: "Gaussian mixture", rgb: "RGB", oklab: "Oklab", lab: "CIELAB", hsv: "HSV (cone)",
  zlib: "zlib", lzma: "lzma (.xz)", none: "none", smallest: "smallest (tries each)",
};
const CLIENT = Math.random().toString(36).slice(2); // names this page load: generations restart at 1
const RETRIES = 3; // a current request superseded by someone else's (another tab) is sent again

const app = {
  options: null,
  limits: null,
  ssim: false,
  image: null, // the server's description of the open image
  original: null, // ImageBitmap of the original's pixels
  sides: {},
  view: { scale: 1, tx: 0, ty: 0, zoom: "fit", split: 0.5 },
  sweep: { key: null, id: null, state: null, side: null, timer: 0, delay: 0 },
  timings: [], // {side, generation, stage, k, ms}: change -> picture on screen (benchmark, tests)
};
window.kmzGui = app;

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

function showMessage(text) {
  const box = $("#message");
  $(".text", box).textContent = text;
  box.hidden = false;
}
const clearMessage = () => { $("#message").hidden = true; };

function describeImage(image) {
  return `${image.name} — ${image.width} × ${image.height}, ${fmtBytes(image.file_bytes)} (${image.kind})`;
}

// ------------------------------------------------------------------ sides

function fillSelect(select, values) {
  for (const value of values) select.add(new Option(LABELS[value] || value, value));
}

function buildSide(name) {
  const root = document.getElementById(`side-${name}`);
  root.append($("#side-template").content.cloneNode(true));
  const el = (cls) => root.querySelector(`.${cls}`);
  $(".side-name", root).textContent = SIDE_NAMES[name];
  fillSelect(el("method"), app.options.methods);
  fillSelect(el("colorspace"), app.options.colorspaces);
  fillSelect(el("compression"), app.options.compressions);
  for (const input of [el("k-range"), el("k-number")]) input.max = app.options.max_k;
  el("k-range").value = el("k-number").value = DEFAULT_K;
  el("mode").value = DEFAULT_MODE[name];
  if (!app.ssim) el("target").options[0].textContent = "elbow of PSNR";
  const side = { name, root, el, canvas: document.getElementById(`canvas-${name}`), generation: 0,
    busy: false, result: null, changedAt: new Map() };

  el("mode").addEventListener("change", () => changed(side, true));
  el("k-range").addEventListener("input", () => {
    el("k-number").value = el("k-range").value;
    changed(side);
  });
  el("k-number").addEventListener("change", () => {
    el("k-number").value = el("k-range").value = clampK(el("k-number").value);
    changed(side);
  });
  el("auto").addEventListener("change", () => changed(side));
  el("target").addEventListener("change", () => {
    const target = el("target").value;
    const fallback = app.image ? Math.round(app.image.file_bytes / 10) : 100000;
    el("target-value").value = target ? (TARGET_DEFAULTS[target] ?? fallback) : "";
    changed(side);
  });
  el("target-value").addEventListener("change", () => changed(side));
  for (const cls of ["method", "colorspace", "dither", "quality", "compression"]) {
    el(cls).addEventListener("change", () => changed(side, true));
  }
  for (const cls of ["dither", "quality"]) {
    el(cls).addEventListener("input", () => syncControls(side)); // the number beside it, while dragging
  }
  el("download-kmz").addEventListener("click", () => downloadKmz(side));
  el("download-png").addEventListener("click", () => downloadPng(side));
  syncControls(side);
  return side;
}

function clampK(value) {
  const k = Math.round(Number(value));
  return Number.isFinite(k) ? Math.min(app.options.max_k, Math.max(2, k)) : DEFAULT_K;
}

function settingsOf(side) {
  const { el } = side;
  const auto = el("auto").checked;
  const target = auto && el("target").value ? el("target").value : null;
  return {
    k: auto ? "auto" : clampK(el("k-number").value),
    target,
    target_value: target ? Number(el("target-value").value) : null,
    method: el("method").value,
    colorspace: el("colorspace").value,
    dither: Number(el("dither").value), // strength 0..1; 0: off
    quality: Number(el("quality").value),
    compression: el("compression").value,
  };
}

const encoding = (side) => side.el("mode").value === "encode";

function syncControls(side) {
  const { el } = side;
  $(".settings", side.root).disabled = !encoding(side);
  const auto = el("auto").checked;
  el("k-range").disabled = el("k-number").disabled = auto;
  el("target").disabled = !auto;
  el("target-value").disabled = !auto || !el("target").value;
  const strength = Number(el("dither").value);
  el("dither-value").textContent = strength > 0 ? strength.toFixed(2) : "off";
  el("quality-value").textContent = el("quality").value;
  const s = settingsOf(side);
  const what = !encoding(side) ? "Original"
    : `${s.k === "auto" ? "auto K" : `K ${s.k}`} · ${LABELS[s.method]}${s.dither ? ` · dither ${s.dither}` : ""}`
      + (s.quality < 100 ? ` · quality ${s.quality}` : "");
  $(`#tag-${side.name}`).textContent = `${SIDE_NAMES[side.name]}: ${what}`;
}

// A control changed: show the original at once, or encode (preview first, then full size).
function changed(side, sweepToo = false) {
  side.generation += 1;
  side.changedAt.set(side.generation, performance.now());
  side.changedAt.delete(side.generation - 100); // answers that old are long dropped
  syncControls(side);
  if (sweepToo) scheduleSweep();
  if (!app.image) return;
  if (!encoding(side)) {
    side.result = null;
    drawOriginal(side);
    showOriginalNumbers(side);
    setStatus(side, "");
    return;
  }
  setDownloads(side, null);
  runSide(side);
}

async function runSide(side) {
  if (side.busy) return; // the loop below picks up the newest generation
  side.busy = true;
  let generation = -1;
  // A size target is met by the full image only: a preview would pick K for a smaller file.
  const preview = () => app.image.preview && settingsOf(side).target !== "bytes";
  try {
    while (app.image && encoding(side) && generation !== side.generation && preview()) {
      generation = side.generation;
      if ((await encodeStage(side, generation, "preview")) === "failed" && generation === side.generation) {
        return; // the message is shown; the full image would fail the same way
      }
    }
  } finally {
    side.busy = false;
  }
  generation = side.generation;
  if (app.image && encoding(side) && (await encodeStage(side, generation, "full")) === "shown") {
    measureSsim(side, generation);
  }
}

// Encode one stage and show it: "shown", "stale" (a newer change came) or "failed" (message shown).
async function encodeStage(side, generation, stage) {
  const image = app.image;
  const current = () => generation === side.generation && image === app.image;
  setStatus(side, stage === "preview" ? "encoding a preview…" : "encoding the full image…");
  try {
    const request = { image: image.id, side: side.name, stage, generation, client: CLIENT, settings: settingsOf(side) };
    let response;
    for (let attempt = 0; !response; attempt += 1) {
      try {
        response = await api("/api/encode", { json: request });
      } catch (error) {
        if (!(error instanceof Superseded) || !current() || attempt >= RETRIES) throw error;
      }
    }
    const numbers = JSON.parse(response.headers.get("X-Kmz-Result"));
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!current()) return "stale";
    const result = { numbers, bytes, pixels: null, generation };
    try {
      result.pixels = await decode(bytes); // what is shown is what is downloaded
    } catch (error) {
      if (!current()) return "stale";
      side.result = result;
      showNumbers(side, numbers);
      setDownloads(side, result);
      throw new ApiError(`kmz.js cannot show this .kmz: ${error.message} [${error.reason || "error"}]`, "decode", 0);
    }
    if (!current()) return "stale";
    paint(side, result.pixels, numbers.stage);
    side.result = result;
    showNumbers(side, numbers);
    if (numbers.stage === "full") {
      setDownloads(side, result);
      drawChart(); // this side's K mark
    }
    await nextFrame();
    app.timings.push({ side: side.name, generation, stage: numbers.stage, k: numbers.colors,
      ms: performance.now() - side.changedAt.get(generation) });
    setStatus(side, numbers.stage === "full" ? "" : "preview shown; encoding the full image…");
    return "shown";
  } catch (error) {
    if (error instanceof Superseded || !current()) return "stale";
    setStatus(side, error.message, true);
    showMessage(`${SIDE_NAMES[side.name]}: ${error.message}`);
    return "failed";
  }
}

async function measureSsim(side, generation) {
  const cell = $('[data-n="ssim"]', side.root);
  if (!app.ssim) return;
  try {
    const response = await api("/api/ssim", { json: { side: side.name, generation, client: CLIENT } });
    const { ssim } = await response.json();
    if (generation !== side.generation) return;
    cell.textContent = ssim === null ? "n/a" : ssim.toFixed(4);
    cell.classList.remove("pending");
  } catch (error) {
    if (generation !== side.generation) return;
    cell.textContent = error instanceof Superseded ? "—" : "failed";
    cell.classList.remove("pending");
  }
}

function setStatus(side, text, isError = false) {
  const status = $(".status", side.root);
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function clearNumbers(side) {
  for (const cell of side.root.querySelectorAll("[data-n]")) cell.textContent = "";
  $(".strip", side.root).replaceChildren();
  $(".swatches", side.root).replaceChildren();
  setDownloads(side, null);
}

// The original's own numbers: its file against its raw pixels.
function showOriginalNumbers(side) {
  clearNumbers(side);
  const { width, height, channels, file_bytes: bytes, kind } = app.image;
  const set = (key, text) => { $(`[data-n="${key}"]`, side.root).textContent = text; };
  set("k", kind === "kmz" ? "(a .kmz file)" : "");
  set("bytes", fmtBytes(bytes));
  set("vs", fmtSigned(0));
  set("ratio", `${((width * height * channels) / bytes).toFixed(1)} : 1`);
  set("bpp", ((8 * bytes) / (width * height)).toFixed(3));
}

function showNumbers(side, n) {
  const set = (key, text, pending = false) => {
    const cell = $(`[data-n="${key}"]`, side.root);
    cell.textContent = text;
    cell.classList.toggle("pending", pending);
  };
  const auto = settingsOf(side).k === "auto";
  set("k", `${n.colors}${n.method === "exact" ? " (exact)" : ""}${auto ? " (auto)" : ""}`);
  if (n.stage === "preview") {
    for (const key of ["bytes", "vs", "ratio", "bpp", "time"]) set(key, "…", true);
    set("psnr", `${fmtPsnr(n.psnr)} (preview)`, true);
    set("ssim", "…", true);
  } else {
    set("bytes", fmtBytes(n.bytes));
    set("vs", fmtSigned(n.vs_file_percent));
    set("ratio", `${n.ratio.toFixed(1)} : 1`);
    set("bpp", n.bits_per_pixel.toFixed(3));
    set("psnr", fmtPsnr(n.psnr));
    set("ssim", app.ssim ? "measuring…" : "n/a (pip install 'kmzcodec[metrics]')", true);
    set("time", `${(n.encode_seconds * 1000).toFixed(0)} ms`);
  }
  showPalette(side.root, n.palette);
}

// ------------------------------------------------------------------ downloads

function setDownloads(side, result) {
  side.el("download-kmz").disabled = !result || result.numbers.stage !== "full";
  side.el("download-png").disabled = !result || result.numbers.stage !== "full" || !result.pixels;
}

function fileStem(side) {
  const stem = app.image.name.replace(/\.[^.]*$/, "") || "image";
  const n = side.result.numbers;
  return `${stem}-k${n.colors}${settingsOf(side).dither ? "-dither" : ""}`;
}

function saveBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function downloadKmz(side) {
  saveBlob(new Blob([side.result.bytes], { type: "image/x-kmz" }), `${fileStem(side)}.kmz`);
}

function downloadPng(side) {
  const { pixels } = side.result;
  const canvas = document.createElement("canvas");
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  canvas.toBlob((blob) => saveBlob(blob, `${fileStem(side)}.png`), "image/png");
}

// ------------------------------------------------------------------ image

async function openFile(file) {
  if (!file) return;
  clearMessage();
  const limit = app.limits.max_upload_bytes;
  if (file.size > limit) {
    showMessage(`${file.name}: ${fmtBytes(file.size)} is over this server's upload limit of ${fmtBytes(limit)}`
      + " (start it with kmz gui --max-upload MB)");
    return;
  }
  $("#image-info").textContent = `opening ${file.name}…`;
  try {
    const response = await api("/api/image", {
      body: file,
      headers: { "X-Kmz-Name": encodeURIComponent(file.name), "Content-Type": "application/octet-stream" },
    });
    await setImage((await response.json()).image);
  } catch (error) {
    if (error instanceof Superseded) return;
    showMessage(`${file.name}: ${error.message}`);
    $("#image-info").textContent = app.image ? describeImage(app.image) : "";
  }
}

async function setImage(image) {
  const response = await api(`/api/original?image=${encodeURIComponent(image.id)}`);
  const bitmap = await createImageBitmap(await response.blob(),
    { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  app.original?.close();
  app.image = image;
  app.original = bitmap;
  $("#image-info").textContent = describeImage(image);
  $("#empty").hidden = true;
  for (const side of Object.values(app.sides)) {
    side.result = null;
    drawOriginal(side); // until its result arrives
    clearNumbers(side);
    changed(side);
  }
  fitView(app);
  app.sweep.key = null;
  startSweep();
}

// A side's canvas holds the pixels it shows at their own size (a preview is smaller than the
// image); applyView stretches it over the image's area. Resizing a canvas clears it.
function resizeCanvas(canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
    applyView(app);
  }
}

function drawOriginal(side) {
  resizeCanvas(side.canvas, app.image.width, app.image.height);
  const context = side.canvas.getContext("2d");
  context.clearRect(0, 0, side.canvas.width, side.canvas.height);
  context.drawImage(app.original, 0, 0);
  side.canvas.dataset.stage = "original";
}

function paint(side, pixels, stage) {
  const { canvas } = side;
  resizeCanvas(canvas, pixels.width, pixels.height);
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  canvas.dataset.stage = stage;
  canvas.dataset.generation = String(side.generation);
}

function wireFiles() {
  $("#file").addEventListener("change", (event) => {
    openFile(event.target.files[0]);
    event.target.value = "";
  });
  $("#message .close").addEventListener("click", clearMessage);
  let depth = 0; // dragenter/dragleave fire for every child element
  document.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    openFile(event.dataTransfer.files[0]);
  });
}

// ------------------------------------------------------------------ effect-of-K chart

// The sweep follows the settings of the right side (or the left, when only it encodes).
function sweepSide() {
  return !encoding(app.sides.b) && encoding(app.sides.a) ? app.sides.a : app.sides.b;
}

function scheduleSweep() {
  clearTimeout(app.sweep.delay);
  app.sweep.delay = setTimeout(startSweep, 500); // not while someone is still clicking through options
}

async function startSweep() {
  if (!app.image) return;
  const side = sweepSide();
  const { method, colorspace, dither, quality, compression } = settingsOf(side);
  const settings = { method, colorspace, dither, quality, compression };
  const key = JSON.stringify([app.image.id, settings]);
  if (key === app.sweep.key) {
    app.sweep.side = side;
    return;
  }
  Object.assign(app.sweep, { key, side, state: null });
  clearTimeout(app.sweep.timer);
  $("#sweep-status").textContent = "starting…";
  try {
    const response = await api("/api/sweep", { json: { image: app.image.id, settings } });
    const state = await response.json();
    if (app.sweep.key !== key) return;
    Object.assign(app.sweep, { id: state.sweep, state });
    drawChart();
    app.sweep.timer = setTimeout(() => pollSweep(key), 300);
  } catch (error) {
    if (app.sweep.key !== key || error instanceof Superseded) return;
    app.sweep.key = null;
    $("#sweep-status").textContent = `failed: ${error.message}`;
  }
}

async function pollSweep(key) {
  if (key !== app.sweep.key) return;
  try {
    const response = await api(`/api/sweep?id=${encodeURIComponent(app.sweep.id)}`);
    const state = await response.json();
    if (key !== app.sweep.key) return;
    app.sweep.state = state;
    drawChart();
    if (!state.done) app.sweep.timer = setTimeout(() => pollSweep(key), 400);
  } catch (error) {
    if (key === app.sweep.key && !(error instanceof Superseded)) {
      $("#sweep-status").textContent = `failed: ${error.message}`;
    }
  }
}

function setK(side, k) {
  side.el("auto").checked = false;
  side.el("k-range").value = side.el("k-number").value = k;
  changed(side);
}

// The effect-of-K chart (kmzcodec/web/chart.js) with this page's formatting and state.
function drawChart() {
  drawSweepChart(app, { formatBytes: fmtBytes, encodes: encoding, pick: (k) => setK(app.sweep.side || app.sides.b, k) });
}

// ------------------------------------------------------------------ start

async function init() {
  const state = await (await api("/api/state")).json();
  Object.assign(app, { options: state.options, limits: state.limits, ssim: state.ssim });
  for (const name of SIDES) app.sides[name] = buildSide(name);
  wireViewer(app);
  wireFiles();
  if (state.image) await setImage(state.image);
  document.body.dataset.ready = "true";
}

init().catch((error) => showMessage(error.message));
