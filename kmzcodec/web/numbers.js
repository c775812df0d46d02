// kmz gui: how numbers and palettes are written on the page.

const SWATCHES = 64; // palette entries drawn as squares (the strip shows them all)
const $ = (selector, root) => root.querySelector(selector);

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}
export const fmtSigned = (v) => `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v).toFixed(1)} %`;
export const fmtPsnr = (v) => (v === null ? "∞ (lossless)" : `${v.toFixed(2)} dB`);

// The palette of a side's panel (root): a strip with every entry by its share of pixels, and
// squares for the first SWATCHES entries.
export function showPalette(root, palette) {
  const strip = $(".strip", root);
  const swatches = $(".swatches", root);
  strip.replaceChildren();
  swatches.replaceChildren();
  palette.forEach(([color, share], i) => {
    const title = `${color}: ${(share * 100).toFixed(2)} % of pixels`;
    const bar = document.createElement("span");
    bar.style.background = color;
    bar.style.flexGrow = String(share);
    bar.title = title;
    strip.append(bar);
    if (i < SWATCHES) {
      const swatch = document.createElement("span");
      swatch.style.background = color;
      swatch.title = title;
      swatches.append(swatch);
    }
  });
}
