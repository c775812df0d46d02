// kmz gui's effect-of-K chart: PSNR, SSIM and size against K (log scale), drawn in SVG as the
// sweep's points arrive, with the elbow and each side's K marked. State lives in app.sweep.

const $ = (selector, root = document) => root.querySelector(selector);

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes, parent, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  parent.append(node);
  return node;
}

export function drawSweepChart(app, { formatBytes, encodes, pick }) {
  const chart = $("#chart");
  chart.replaceChildren();
  const state = app.sweep.state;
  if (!state) return;
  const { ks, points } = state;
  const series = [
    { key: "psnr", title: "PSNR (dB)", format: (v) => v.toFixed(1), color: "#7048e8" },
    { key: "ssim", title: "SSIM", format: (v) => v.toFixed(3), color: "#0c8599" },
    { key: "bytes", title: "Size", format: formatBytes, color: "#e67700" },
  ];
  const lo = Math.log2(ks[0]);
  const hi = Math.log2(ks[ks.length - 1]);
  series.forEach((s, panel) => {
    const left = panel * 300 + 58;
    const right = panel * 300 + 288;
    const top = 20;
    const bottom = 178;
    const x = (k) => left + ((Math.log2(Math.min(Math.max(k, ks[0]), ks[ks.length - 1])) - lo) / (hi - lo))
      * (right - left);
    svg("text", { x: left, y: 12, class: "label" }, chart, s.title);
    svg("line", { x1: left, y1: bottom, x2: right, y2: bottom, class: "axis" }, chart);
    svg("line", { x1: left, y1: top, x2: left, y2: bottom, class: "axis" }, chart);
    for (const k of ks) svg("text", { x: x(k), y: bottom + 14, class: "label", "text-anchor": "middle" }, chart, k);
    if (s.key === "ssim" && !app.ssim) {
      svg("text", { x: (left + right) / 2, y: 100, class: "label", "text-anchor": "middle" }, chart,
        "needs scikit-image: pip install 'kmzcodec[metrics]'");
      return;
    }
    // null PSNR is lossless (infinite): drawn on the top edge
    const finite = points.filter((p) => p[s.key] !== null).map((p) => p[s.key]);
    if (!finite.length && !points.length) return;
    let min = finite.length ? Math.min(...finite) : 0;
    let max = finite.length ? Math.max(...finite) : 1;
    if (max === min) { min -= 1; max += 1; }
    const y = (v) => (v === null ? top : bottom - ((v - min) / (max - min)) * (bottom - top - 8));
    svg("text", { x: left - 4, y: y(max) + 4, class: "label", "text-anchor": "end" }, chart, s.format(max));
    svg("text", { x: left - 4, y: y(min), class: "label", "text-anchor": "end" }, chart, s.format(min));
    const coords = points.map((p) => `${x(p.k).toFixed(1)},${y(p[s.key]).toFixed(1)}`);
    svg("polyline", { points: coords.join(" "), class: "curve", stroke: s.color }, chart);
    for (const p of points) {
      const dot = svg("circle", { cx: x(p.k), cy: y(p[s.key]), r: 4, fill: s.color }, chart);
      svg("title", {}, dot, `K = ${p.k}: ${p[s.key] === null ? "lossless" : s.format(p[s.key])} (click: use this K)`);
      dot.addEventListener("click", () => pick(p.k));
    }
    if (state.elbow) {
      svg("line", { x1: x(state.elbow), y1: top, x2: x(state.elbow), y2: bottom, class: "elbow" }, chart);
      if (panel === 0) {
        svg("text", { x: x(state.elbow) + 4, y: top + 10, class: "elbow-label" }, chart, `elbow K = ${state.elbow}`);
      }
    }
    for (const side of Object.values(app.sides)) {
      if (!encodes(side) || !side.result) continue;
      const k = x(side.result.numbers.colors);
      svg("line", { x1: k, y1: bottom - 6, x2: k, y2: bottom + 2, class: `mark-${side.name}`, "stroke-width": 3 },
        chart);
    }
  });
  const progress = $("#sweep-progress");
  progress.max = ks.length;
  progress.value = points.length;
  const copy = `on ${state.width} × ${state.height}${app.image && state.width !== app.image.width ? " (a copy)" : ""}`;
  const by = app.ssim ? "SSIM" : "PSNR";
  $("#sweep-status").textContent = state.error ? `stopped: ${state.error}`
    : state.done ? `K = ${ks.join(", ")} ${copy}; elbow of ${by} at K = ${state.elbow}`
      : `measuring K = ${ks[points.length]} (${points.length} of ${ks.length} done) ${copy}…`;
}
