// PLACEHOLDER kmz.js for the gui branch only: the real decoder (all the spec's checks and
// reason tokens) is written on another branch and replaces this file at merge.
// Interface: export async function decode(bytes) -> ImageData; errors carry .reason.

function fail(message, reason) {
  const error = new Error(message);
  error.reason = reason;
  return error;
}

async function inflate(stored) {
  const stream = new Blob([stored]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function decode(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const magic = [0x89, 0x4b, 0x4d, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a];
  if (data.length < 44) throw fail("file too short", "truncated");
  if (!magic.every((b, i) => data[i] === b)) throw fail("not a .kmz file", "bad-magic");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const kind = data[9], bits = data[10], compression = data[11];
  const width = view.getUint32(12, true), height = view.getUint32(16, true), colors = view.getUint32(20, true);
  const length = Number(view.getBigUint64(24, true));
  const paletteEnd = 40 + kind * colors;
  if (paletteEnd + length + 4 > data.length) throw fail("truncated file", "truncated");
  const words = new Uint32Array(colors);
  for (let i = 0; i < colors; i++) {
    const p = 40 + i * kind;
    const [r, g, b, a] = kind === 1 ? [data[p], data[p], data[p], 255]
      : [data[p], data[p + 1], data[p + 2], kind === 4 ? data[p + 3] : 255];
    words[i] = (a << 24 | b << 16 | g << 8 | r) >>> 0;  // little-endian RGBA
  }
  const stored = data.subarray(paletteEnd, paletteEnd + length);
  let rows;
  if (compression === 0) rows = stored;
  else if (compression === 1) rows = await inflate(stored);
  else throw fail("this decoder does not read lzma", "unsupported-compression");
  const rowBytes = Math.ceil(width * bits / 8);
  if (rows.length !== rowBytes * height) throw fail("wrong decompressed length", "bad-data-length");
  const image = new ImageData(width, height);
  const out = new Uint32Array(image.data.buffer);
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    if (bits === 8) {  // the common case, one byte per index
      for (let x = 0; x < width; x++) {
        const index = rows[row + x];
        if (index >= colors) throw fail("index out of range", "index-out-of-range");
        out[y * width + x] = words[index];
      }
      continue;
    }
    for (let x = 0; x < width; x++) {
      let index = 0;
      for (let j = 0; j < bits; j++) {
        const p = x * bits + j;
        index = index << 1 | (rows[row + (p >> 3)] >> (7 - (p & 7))) & 1;
      }
      if (index >= colors) throw fail("index out of range", "index-out-of-range");
      out[y * width + x] = words[index];
    }
  }
  return image;
}
