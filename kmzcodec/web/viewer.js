// The comparison viewer of kmz gui: both sides' canvases under one zoom and pan, and the
// split handle between them. State lives in app.view ({scale, tx, ty, zoom, split}).

const $ = (selector, root = document) => root.querySelector(selector);
const viewer = () => $("#viewer");

export function applyView(app) {
  const { scale, tx, ty, zoom } = app.view;
  for (const { canvas } of Object.values(app.sides)) {
    const sx = app.image ? (scale * app.image.width) / canvas.width : scale;
    const sy = app.image ? (scale * app.image.height) / canvas.height : scale;
    canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${sx}, ${sy})`;
  }
  viewer().classList.toggle("pixelated", scale * devicePixelRatio >= 1);
  $("#zoom-level").textContent = `${Math.round(scale * devicePixelRatio * 100)} %`;
  for (const button of document.querySelectorAll("#zoom button")) {
    button.classList.toggle("active", button.dataset.zoom === String(zoom));
  }
}

export function fitView(app) {
  if (!app.image) return;
  const { clientWidth: width, clientHeight: height } = viewer();
  const scale = Math.min(width / app.image.width, height / app.image.height);
  Object.assign(app.view, { scale, zoom: "fit", tx: (width - app.image.width * scale) / 2,
    ty: (height - app.image.height * scale) / 2 });
  applyView(app);
}

// Zoom to `scale`, keeping the image point under viewer point (x, y) where it is.
function zoomTo(app, scale, x, y, zoom = "custom") {
  const view = app.view;
  const ix = (x - view.tx) / view.scale;
  const iy = (y - view.ty) / view.scale;
  Object.assign(view, { scale, zoom, tx: x - ix * scale, ty: y - iy * scale });
  applyView(app);
}

function setSplit(app, fraction) {
  app.view.split = Math.min(1, Math.max(0, fraction));
  viewer().style.setProperty("--split", `${app.view.split * 100}%`);
  $("#handle").setAttribute("aria-valuenow", String(Math.round(app.view.split * 100)));
}

export function wireViewer(app) {
  const box = viewer();
  const handle = $("#handle");
  let drag = null; // {kind: "pan" | "split", x, y}
  box.addEventListener("pointerdown", (event) => {
    if (event.target.closest("#zoom")) return;
    drag = { kind: event.target === handle ? "split" : "pan", x: event.clientX, y: event.clientY };
    box.setPointerCapture(event.pointerId);
    box.classList.toggle("panning", drag.kind === "pan");
  });
  box.addEventListener("pointermove", (event) => {
    if (!drag) return;
    if (drag.kind === "split") {
      const rect = box.getBoundingClientRect();
      setSplit(app, (event.clientX - rect.left) / rect.width);
    } else {
      app.view.tx += event.clientX - drag.x;
      app.view.ty += event.clientY - drag.y;
      app.view.zoom = app.view.zoom === "fit" ? "custom" : app.view.zoom;
      drag.x = event.clientX;
      drag.y = event.clientY;
      applyView(app);
    }
  });
  const stop = () => { drag = null; box.classList.remove("panning"); };
  box.addEventListener("pointerup", stop);
  box.addEventListener("pointercancel", stop);
  box.addEventListener("wheel", (event) => {
    if (!app.image) return;
    event.preventDefault();
    const rect = box.getBoundingClientRect();
    const scale = Math.min(64, Math.max(1 / 64, app.view.scale * Math.exp(-event.deltaY * 0.002)));
    zoomTo(app, scale, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  handle.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -0.02, ArrowRight: 0.02 }[event.key];
    if (step) setSplit(app, app.view.split + step);
  });
  for (const button of document.querySelectorAll("#zoom button")) {
    button.addEventListener("click", () => {
      const zoom = button.dataset.zoom;
      if (zoom === "fit") fitView(app);
      else zoomTo(app, Number(zoom) / devicePixelRatio, box.clientWidth / 2, box.clientHeight / 2, zoom);
    });
  }
  new ResizeObserver(() => { if (app.view.zoom === "fit") fitView(app); }).observe(box);
  setSplit(app, 0.5);
}
