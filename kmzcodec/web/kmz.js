// kmz.js: a decoder for .kmz palette images (format version 1), written from
// spec/kmz-format.md alone. An ES module with no dependencies outside this folder.
//
//   import { decode } from "./kmz.js";
//   const image = await decode(bytes);          // Uint8Array or ArrayBuffer -> ImageData
//   canvas.getContext("2d").putImageData(image, 0, 0);
//
// A malformed file throws a KmzError (an Error) whose .reason is the spec's token
// (section 9), with the checks in the spec's order, as kmzcodec.decode does.
// All three compressions: zlib goes through the browser's DecompressionStream("deflate"),
// lzma (.xz, spec 7.3 and 7.4) through xz.js, our own .xz / LZMA2 decoder; crc.js holds
// the CRC-32 both use. Row filters (spec 6.5) are undone after unpacking.

import { crc32 } from "./crc.js";
import { decompress as unxz, XzError } from "./xz.js";

/** The default limit on width x height, as kmzcodec's (spec 9.6i). */
export const DEFAULT_MAX_PIXELS = 2 ** 28;

/** Every reason token of spec section 9 (this decoder implements lzma, so it never reports
 * "unsupported-compression", rule 9.10's token for decoders that leave lzma out). */
export const REASONS = Object.freeze([
  "empty", "bad-magic", "truncated-header", "unsupported-version", "header-crc",
  "bad-palette-kind", "bad-compression", "bad-dimensions", "bad-colors", "bad-bits",
  "bad-method", "bad-colorspace", "reserved-nonzero", "bad-filter", "too-many-pixels", "wrong-size",
  "truncated-palette", "truncated-data", "trailing-bytes", "data-crc",
  "unsupported-compression", "corrupt-stream", "nonzero-padding", "index-out-of-range",
]);

export class KmzError extends Error {
  constructor(message, reason) {
    super(message);
    this.name = "KmzError";
    this.reason = reason;
  }
}

const MAGIC = [0x89, 0x4b, 0x4d, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a];
const HEADER_SIZE = 40;
const MAX_DIMENSION = 2 ** 24;
const MAX_COLORS = 2 ** 16;
const KIND_LABELS = { 1: "grey", 3: "rgb", 4: "rgba" };
const COMPRESSION_LABELS = ["none", "zlib", "lzma"];
const METHOD_LABELS = ["unspecified", "kmeans", "gmm", "exact", "given"];
const COLORSPACE_LABELS = ["unspecified", "rgb", "oklab", "lab", "hsv"];
const FILTER_LABELS = ["none", "sub", "up", "gradient", "paeth"];
/** Bytes of compressed input handed to the inflater at a time: deflate expands at most
 * about 1032:1, so one piece can make at most ~16 MiB of output before we look at it. */
const FEED = 16384;

function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError("kmz.decode expects a Uint8Array or an ArrayBuffer");
}

function maxPixelsOption(options) {
  const limit = options?.maxPixels === undefined ? DEFAULT_MAX_PIXELS : options.maxPixels;
  if (limit === null || limit === Infinity) return Infinity;
  if (typeof limit !== "number" || !(limit >= 0)) {
    throw new TypeError(`maxPixels must be a non-negative number or null, not ${limit}`);
  }
  return limit;
}

/**
 * Validate the header (spec rules 9.1 to 9.6, in order) and the file's length and data
 * CRC (9.7 to 9.9). Returns the header's values. Allocates nothing from them.
 * @param {Uint8Array|ArrayBuffer} bytes the whole file
 * @param {{maxPixels?: number|null}} [options] maxPixels: limit on width x height
 *   (default 2^28; null for the format's own limits only)
 */
export function readHeader(bytes, options = {}) {
  const data = asBytes(bytes);
  const maxPixels = maxPixelsOption(options);
  const n = data.length;
  if (n === 0) throw new KmzError("empty file", "empty");
  for (let i = 0; i < Math.min(n, 8); i++) {
    if (data[i] !== MAGIC[i]) throw new KmzError("not a KMZ file (bad magic bytes)", "bad-magic");
  }
  if (n < HEADER_SIZE) {
    throw new KmzError(`truncated header: ${n} of ${HEADER_SIZE} bytes`, "truncated-header");
  }
  const view = new DataView(data.buffer, data.byteOffset, HEADER_SIZE);
  const version = data[8];
  if (version !== 1) {
    throw new KmzError(`unsupported KMZ version ${version} (this decoder reads 1)`, "unsupported-version");
  }
  if (crc32(data, 0, 36) !== view.getUint32(36, true)) {
    throw new KmzError("header CRC-32 mismatch", "header-crc");
  }
  const kind = data[9];
  const bits = data[10];
  const compression = data[11];
  const width = view.getUint32(12, true);
  const height = view.getUint32(16, true);
  const colors = view.getUint32(20, true);
  const dataLength = view.getBigUint64(24, true);
  const [method, colorspace, flags, filter] = [data[32], data[33], data[34], data[35]];
  if (!(kind in KIND_LABELS)) throw new KmzError(`unknown palette kind code ${kind}`, "bad-palette-kind");
  if (compression > 2) throw new KmzError(`unknown compression code ${compression}`, "bad-compression");
  if (width < 1 || width > MAX_DIMENSION || height < 1 || height > MAX_DIMENSION) {
    throw new KmzError(`image size ${width}x${height} outside 1..${MAX_DIMENSION}`, "bad-dimensions");
  }
  if (colors < 1 || colors > MAX_COLORS) {
    throw new KmzError(`palette size K = ${colors} outside 1..${MAX_COLORS}`, "bad-colors");
  }
  if (bits < 1 || bits > 16 || 2 ** bits < colors) {
    throw new KmzError(`${bits} bits per index cannot address K = ${colors} colours`, "bad-bits");
  }
  if (method > 4) throw new KmzError(`unknown method code ${method}`, "bad-method");
  if (colorspace >= COLORSPACE_LABELS.length) throw new KmzError(`unknown colour space code ${colorspace}`, "bad-colorspace");
  if (flags & 0xfe) throw new KmzError("reserved header bits are not zero", "reserved-nonzero");
  if (filter >= FILTER_LABELS.length) throw new KmzError(`unknown row filter code ${filter}`, "bad-filter");
  // width x height <= 2^48 and raw_length <= 2^49: exact in doubles (spec 11).
  if (width * height > maxPixels) {
    throw new KmzError(
      `${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels}`, "too-many-pixels");
  }
  const rowBytes = Math.ceil((width * bits) / 8);
  const rawLength = rowBytes * height;
  if (compression === 0 && dataLength !== BigInt(rawLength)) {
    throw new KmzError(
      `uncompressed data must be ${rawLength} bytes, header says ${dataLength}`, "wrong-size");
  }
  const dataOffset = HEADER_SIZE + colors * kind;
  // data_length is a full u64: compare without computing data_offset + data_length + 4 (spec 11).
  if (n < dataOffset) {
    throw new KmzError(
      `truncated palette: file has ${n} bytes, palette ends at ${dataOffset}`, "truncated-palette");
  }
  const room = BigInt(n - dataOffset - 4);
  if (room < dataLength) throw new KmzError(`truncated data: file has ${n} bytes`, "truncated-data");
  if (room > dataLength) {
    throw new KmzError(`${room - dataLength} trailing bytes after the end of the file`, "trailing-bytes");
  }
  const dataEnd = n - 4;
  const trailer = new DataView(data.buffer, data.byteOffset + dataEnd, 4).getUint32(0, true);
  if (crc32(data, HEADER_SIZE, dataEnd) !== trailer) throw new KmzError("data CRC-32 mismatch", "data-crc");
  return {
    width, height, colors, bitsPerIndex: bits, rowBytes, rawLength, dataOffset, dataEnd,
    paletteKind: KIND_LABELS[kind], entrySize: kind,
    compression: COMPRESSION_LABELS[compression],
    method: METHOD_LABELS[method], colorspace: COLORSPACE_LABELS[colorspace], dither: (flags & 1) === 1,
    filter: FILTER_LABELS[filter], filterCode: filter,
  };
}

/** Inflate a zlib stream into exactly rawLength bytes (spec 7.2, 7.4), never holding much more. */
async function inflate(stored, rawLength) {
  const out = new Uint8Array(rawLength);
  const stream = new DecompressionStream("deflate");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  // Feed small pieces and let the stream's backpressure pace them, so that a bomb is
  // noticed after at most one piece's output (DecompressionStream inflates a whole
  // written chunk at once).
  const feeding = (async () => {
    for (let at = 0; at < stored.length; at += FEED) {
      await writer.write(stored.subarray(at, Math.min(at + FEED, stored.length)));
    }
    await writer.close();
  })();
  feeding.catch(() => {}); // a stream error is reported by the reader
  let total = 0;
  for (;;) {
    let result;
    try {
      result = await reader.read();
    } catch (error) {
      // Steps 1, 3 and 4 of 7.4: bad data, a stream that does not end, bytes after it.
      throw new KmzError(`corrupt zlib stream: ${error.message}`, "corrupt-stream");
    }
    if (result.done) break;
    const chunk = result.value;
    if (chunk.length > rawLength - total) {
      reader.cancel().catch(() => {});
      throw new KmzError(`data decompresses to more than the ${rawLength} bytes declared`, "wrong-size");
    }
    out.set(chunk, total);
    total += chunk.length;
  }
  if (total < rawLength) {
    throw new KmzError(`data decompresses to ${total} bytes, header declares ${rawLength}`, "wrong-size");
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The palette as 32-bit words laid out as ImageData's RGBA bytes: one store per pixel. */
function paletteWords(data, header) {
  const { colors, entrySize } = header;
  const words = new Uint32Array(colors);
  for (let i = 0, at = HEADER_SIZE; i < colors; i++, at += entrySize) {
    const r = data[at];
    const g = entrySize === 1 ? r : data[at + 1];
    const b = entrySize === 1 ? r : data[at + 2];
    const a = entrySize === 4 ? data[at + 3] : 255;
    const word = LITTLE_ENDIAN ? (a << 24) | (b << 16) | (g << 8) | r : (r << 24) | (g << 16) | (b << 8) | a;
    words[i] = word >>> 0;
  }
  return words;
}

function outOfRange(colors) {
  return new KmzError(`a palette index is >= K = ${colors}`, "index-out-of-range");
}

/** Unpack the rows into pixels (spec 6.2), checking every index < K (rule 9.12). */
function unpack(rows, header, words, pixels) {
  const { width, height, bitsPerIndex: bits, rowBytes, colors } = header;
  let p = 0;
  if (bits === 8) {
    for (let y = 0, o = 0; y < height; y++, o += rowBytes) {
      for (let x = 0; x < width; x++) {
        const v = rows[o + x];
        if (v >= colors) throw outOfRange(colors);
        pixels[p++] = words[v];
      }
    }
  } else if (bits === 16) {
    for (let y = 0, o = 0; y < height; y++, o += rowBytes) {
      for (let x = 0, i = o; x < width; x++, i += 2) {
        const v = (rows[i] << 8) | rows[i + 1];
        if (v >= colors) throw outOfRange(colors);
        pixels[p++] = words[v];
      }
    }
  } else if (bits === 1 || bits === 2 || bits === 4) {
    // Several indices per byte, the leftmost in the high bits.
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    const whole = Math.floor(width / perByte);
    const rest = width - whole * perByte;
    for (let y = 0, o = 0; y < height; y++, o += rowBytes) {
      for (let i = o, end = o + whole; i < end; i++) {
        const byte = rows[i];
        for (let shift = 8 - bits; shift >= 0; shift -= bits) {
          const v = (byte >>> shift) & mask;
          if (v >= colors) throw outOfRange(colors);
          pixels[p++] = words[v];
        }
      }
      if (rest) {
        const byte = rows[o + whole];
        for (let k = 0, shift = 8 - bits; k < rest; k++, shift -= bits) {
          const v = (byte >>> shift) & mask;
          if (v >= colors) throw outOfRange(colors);
          pixels[p++] = words[v];
        }
      }
    }
  } else {
    // Any other width (3, 5-7, 9-15 bits): unpacked by unpackValues, then looked up.
    lookUp(unpackValues(rows, header), colors, words, pixels);
  }
}

/** pixels[p] = words[values[p]], each value checked < K in reading order (rule 9.12). */
function lookUp(values, colors, words, pixels) {
  for (let p = 0; p < values.length; p++) {
    const v = values[p];
    if (v >= colors) throw outOfRange(colors);
    pixels[p] = words[v];
  }
}

/** The packed values of every pixel (spec 6.2), unchecked: the residuals of a filtered file, or
 * the indices at widths with no faster path. A bit accumulator, most significant bit first
 * (at most 22 bits held). */
function unpackValues(rows, header) {
  const { width, height, bitsPerIndex: bits, rowBytes } = header;
  const values = new Uint16Array(width * height);
  const mask = (1 << bits) - 1;
  let p = 0;
  for (let y = 0, o = 0; y < height; y++, o += rowBytes) {
    let held = 0;
    let count = 0;
    let i = o;
    for (let x = 0; x < width; x++) {
      while (count < bits) {
        held = ((held << 8) | rows[i++]) & 0x7fffff;
        count += 8;
      }
      count -= bits;
      values[p++] = (held >>> count) & mask;
    }
  }
  return values;
}

/** Undo a row filter in place, in reading order (spec 6.5): index = (residual + prediction) mod 2^bits.
 * The neighbours a (left), b (above), c (upper left) are indices already restored, 0 outside. */
function unfilter(values, header) {
  const { width, height, bitsPerIndex: bits, filterCode: code } = header;
  const mask = (1 << bits) - 1;
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const a = x > 0 ? values[p - 1] : 0;
      const b = y > 0 ? values[p - width] : 0;
      const c = x > 0 && y > 0 ? values[p - width - 1] : 0;
      let guess;
      if (code === 1) guess = a;
      else if (code === 2) guess = b;
      else if (code === 3) guess = a + b - c; // reduced by the mask below (two's complement)
      else {
        const base = a + b - c; // Paeth: plain integers, ties to a, then b
        const nearA = Math.abs(base - a);
        const nearB = Math.abs(base - b);
        const nearC = Math.abs(base - c);
        guess = nearA <= nearB && nearA <= nearC ? a : nearB <= nearC ? b : c;
      }
      values[p] = (values[p] + guess) & mask;
    }
  }
}

/** A filtered file's pixels: unpack, undo the filter, then check every index < K (rule 9.12). */
function unpackFiltered(rows, header, words, pixels) {
  const values = unpackValues(rows, header);
  unfilter(values, header);
  lookUp(values, header.colors, words, pixels);
}

/**
 * Decode a .kmz file into an ImageData (straight alpha; grey as R = G = B).
 * @param {Uint8Array|ArrayBuffer} bytes the whole file
 * @param {{maxPixels?: number|null}} [options] maxPixels: limit on width x height
 *   (default 2^28, as kmzcodec; null for the format's own limits only)
 * @returns {Promise<ImageData>}
 * @throws {KmzError} with .reason, the spec's token, for a malformed file
 */
export async function decode(bytes, options = {}) {
  const data = asBytes(bytes);
  const header = readHeader(data, options);
  const stored = data.subarray(header.dataOffset, header.dataEnd);
  let rows;
  if (header.compression === "none") {
    rows = stored;
  } else if (header.compression === "zlib") {
    rows = await inflate(stored, header.rawLength);
  } else {
    try {
      rows = await unxz(stored, header.rawLength);
    } catch (error) {
      if (error instanceof XzError) throw new KmzError(error.message, error.reason);
      throw error;
    }
  }
  const { width, height, bitsPerIndex: bits, rowBytes } = header;
  // Rule 9.11 over the whole image before 9.12, the order kmzcodec uses.
  const padding = rowBytes * 8 - width * bits;
  if (padding) {
    const mask = (1 << padding) - 1;
    for (let end = rowBytes - 1; end < rows.length; end += rowBytes) {
      if (rows[end] & mask) {
        throw new KmzError("non-zero padding bits at the end of a row", "nonzero-padding");
      }
    }
  }
  const image = new ImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer, image.data.byteOffset, width * height);
  const words = paletteWords(data, header);
  if (header.filterCode) unpackFiltered(rows, header, words, pixels);
  else unpack(rows, header, words, pixels);
  return image;
}
