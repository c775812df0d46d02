// crc.js: the CRC-32 (ISO 3309, as zlib, PNG and .xz) and CRC-64 (ECMA-182, as .xz) that
// kmz.js and xz.js share. A standalone ES module with no dependencies.

// CRC-32: slicing by 4 for speed on large files.
const CRC32_TABLES = (() => {
  const tables = [new Int32Array(256), new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 4; t++) {
      const prev = tables[t - 1][n];
      tables[t][n] = tables[0][prev & 0xff] ^ (prev >>> 8);
    }
  }
  return tables;
})();

/** The CRC-32 of bytes[start:end], as an unsigned 32-bit number. */
export function crc32(bytes, start, end) {
  const [t0, t1, t2, t3] = CRC32_TABLES;
  let c = -1;
  let i = start;
  for (const stop = end - 3; i < stop; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t3[c & 0xff] ^ t2[(c >>> 8) & 0xff] ^ t1[(c >>> 16) & 0xff] ^ t0[c >>> 24];
  }
  for (; i < end; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// CRC-64 (reflected polynomial 0xC96C5795D7870F42), the table held as low and high 32-bit halves.
const CRC64_TABLES = (() => {
  const low = new Int32Array(256);
  const high = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = (lo >>> 1) | (hi << 31);
      hi >>>= 1;
      if (bit) {
        lo ^= 0xd7870f42;
        hi ^= 0xc96c5795;
      }
    }
    low[n] = lo;
    high[n] = hi;
  }
  return [low, high];
})();

/** The CRC-64 of bytes[start:end], as its 8 little-endian bytes (the order .xz stores it in). */
export function crc64(bytes, start, end) {
  const [low, high] = CRC64_TABLES;
  let lo = -1;
  let hi = -1;
  for (let i = start; i < end; i++) {
    const t = (lo ^ bytes[i]) & 0xff;
    lo = low[t] ^ ((lo >>> 8) | (hi << 24));
    hi = high[t] ^ (hi >>> 8);
  }
  lo = ~lo;
  hi = ~hi;
  const out = new Uint8Array(8);
  for (let k = 0; k < 4; k++) {
    out[k] = (lo >>> (8 * k)) & 0xff;
    out[k + 4] = (hi >>> (8 * k)) & 0xff;
  }
  return out;
}
