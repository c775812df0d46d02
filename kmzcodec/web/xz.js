// xz.js: an .xz / LZMA2 decoder for kmz.js's compression 2 (spec/kmz-format.md 7.3, 7.4),
// written from The .xz File Format (Tukaani, 1.0.4) and the LZMA / LZMA2 algorithm.
// A standalone ES module; it imports only crc.js.
//
//   import { decompress } from "./xz.js";
//   const rows = await decompress(stored, rawLength);   // exactly rawLength bytes, or throws
//
// Errors are XzError with .reason "corrupt-stream" or "wrong-size", at the first step of
// spec 7.4 that fails. Step 0 (structure: stream header, footer, index, every block header,
// check ID, one LZMA2 filter, dictionary <= 64 MiB) is checked before any output. Then
// the stream is read from the start as liblzma reads it, into one buffer of
// rawLength + 1 bytes that is also the LZMA dictionary. Where the buffer is full, decoding
// stops (wrong-size) at the point where liblzma stops when its output is full, so that
// both find the same errors first (kmzcodec decodes through liblzma): it still reads what
// needs no output (chunk and block ends, checks, chunk headers) and decodes one more LZMA
// symbol, whose errors count. Memory is the output buffer plus ~28 KiB of probabilities,
// whatever the stream declares; work is bounded by the input and output sizes.

import { crc32, crc64 } from "./crc.js";

export class XzError extends Error {
  constructor(message, reason) {
    super(message);
    this.name = "XzError";
    this.reason = reason;
  }
}

/** Check ID -> size of the check field: None, CRC32, CRC64, SHA-256 (spec 7.3). */
const CHECK_SIZES = new Map([[0x00, 0], [0x01, 4], [0x04, 8], [0x0a, 32]]);
const LZMA2 = 0x21;
/** Largest LZMA2 dictionary byte the format knows (40: 4 GiB - 1) and the largest accepted (28: 64 MiB). */
const MAX_DICTIONARY_BYTE = 40;
const ACCEPTED_DICTIONARY_BYTE = 28;

const corrupt = (what) => new XzError(`corrupt lzma stream: ${what}`, "corrupt-stream");
const u32 = (b, at) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
/** Thrown inside the decoder when it needs to write past raw_length + 1 bytes. */
const FULL = Symbol("full");

/** An xz multibyte integer (1 to 9 bytes, shortest form) at `at`, before `end`: [value, next offset].
 * Values past 2^53 lose precision but stay far above any size a stream can have. */
function varint(b, at, end) {
  let value = 0;
  for (let i = 0; i < 9 && at + i < end; i++) {
    const byte = b[at + i];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) {
      if (byte === 0 && i) throw corrupt("non-minimal integer");
      return [value, at + i + 1];
    }
  }
  throw corrupt("malformed integer");
}

/** A block header at `at` (not past `end`): one LZMA2 filter, a dictionary of at most 64 MiB. */
function blockHeader(b, at, end) {
  if (at >= end || b[at] === 0) throw corrupt("block header expected");
  const size = (b[at] + 1) * 4;
  if (at + size > end) throw corrupt("block header runs past its block");
  const crcAt = at + size - 4;
  if (u32(b, crcAt) !== crc32(b, at, crcAt)) throw corrupt("block header CRC mismatch");
  const flags = b[at + 1];
  if (flags & 0x3c) throw corrupt("reserved block flags set");
  if (flags & 0x03) throw corrupt(`a filter chain of ${(flags & 3) + 1} filters (only one LZMA2 filter is allowed)`);
  let pos = at + 2;
  let compressed = null;
  let uncompressed = null;
  if (flags & 0x40) [compressed, pos] = varint(b, pos, crcAt);
  if (flags & 0x80) [uncompressed, pos] = varint(b, pos, crcAt);
  let filter;
  let properties;
  [filter, pos] = varint(b, pos, crcAt);
  if (filter !== LZMA2) throw corrupt(`filter 0x${filter.toString(16)} (only LZMA2, 0x21, is allowed)`);
  [properties, pos] = varint(b, pos, crcAt);
  if (properties !== 1 || pos >= crcAt) throw corrupt("LZMA2 filter properties are not one byte");
  const d = b[pos];
  if (d > MAX_DICTIONARY_BYTE) throw corrupt("invalid LZMA2 dictionary size");
  if (d > ACCEPTED_DICTIONARY_BYTE) throw corrupt("LZMA2 dictionary over the 64 MiB limit");
  for (let i = pos + 1; i < crcAt; i++) if (b[i]) throw corrupt("non-zero block header padding");
  return { size, compressed, uncompressed, dictionary: (2 | (d & 1)) * 2 ** ((d >> 1) + 11) };
}

/** The index records [unpadded size, uncompressed size] between `start` and `end`. */
function indexRecords(b, start, end) {
  if (b[start] !== 0) throw corrupt("index indicator expected");
  let [count, pos] = varint(b, start + 1, end - 4);
  if (count > (end - start) / 2) throw corrupt("index record count too large");
  const records = [];
  for (let i = 0; i < count; i++) {
    let unpadded;
    let uncompressed;
    [unpadded, pos] = varint(b, pos, end - 4);
    [uncompressed, pos] = varint(b, pos, end - 4);
    records.push([unpadded, uncompressed]);
  }
  for (; (pos - start) % 4; pos++) {
    if (pos >= end - 4 || b[pos]) throw corrupt("bad index padding");
  }
  if (pos !== end - 4 || u32(b, pos) !== crc32(b, start, pos)) throw corrupt("index size or CRC mismatch");
  return records;
}

/** Spec 7.4 step 0: the stream's structure, read from the places it declares, before any output. */
export function checkStructure(stored) {
  const b = stored;
  const n = b.length;
  const magic = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (n < 12 || magic.some((byte, i) => b[i] !== byte)) throw corrupt("no .xz stream header");
  if (u32(b, 8) !== crc32(b, 6, 8)) throw corrupt("stream header CRC mismatch");
  if (b[6] !== 0 || !CHECK_SIZES.has(b[7])) {
    throw corrupt("the stream's check is not None, CRC32, CRC64 or SHA-256");
  }
  const checkId = b[7];
  const checkSize = CHECK_SIZES.get(checkId);
  if (n < 24) throw corrupt("stream too short for a footer");
  const footer = n - 12;
  if (b[n - 2] !== 0x59 || b[n - 1] !== 0x5a || u32(b, footer) !== crc32(b, footer + 4, n - 2)) {
    throw corrupt("no valid stream footer at the end of the stored data");
  }
  if (b[n - 4] !== b[6] || b[n - 3] !== b[7]) throw corrupt("stream footer flags differ from the header's");
  const indexStart = footer - (u32(b, footer + 4) + 1) * 4;
  if (indexStart < 12) throw corrupt("index size larger than the stream");
  const blocks = [];
  let at = 12;
  for (const [unpadded, size] of indexRecords(b, indexStart, footer)) {
    const header = blockHeader(b, at, indexStart);
    const payload = unpadded - header.size - checkSize;
    if (payload < 1 || (header.compressed !== null && header.compressed !== payload)) {
      throw corrupt("block size disagrees with the index");
    }
    if (header.uncompressed !== null && header.uncompressed !== size) {
      throw corrupt("block uncompressed size disagrees with the index");
    }
    blocks.push({ at, header, payload, size });
    at += Math.ceil(unpadded / 4) * 4;
  }
  if (at !== indexStart) throw corrupt("blocks do not end where the index begins");
  return { checkId, checkSize, blocks, indexStart };
}

/** Whether a block's check field (at `at` in `b`) matches its output; SHA-256 needs crypto.subtle. */
async function checkMatches(checkId, b, at, output) {
  let expected;
  if (checkId === 0x01) {
    const value = crc32(output, 0, output.length);
    expected = [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
  } else if (checkId === 0x04) {
    expected = crc64(output, 0, output.length);
  } else if (checkId === 0x0a) {
    if (!globalThis.crypto?.subtle) return true; // SHOULD, not MUST (spec 7.3)
    expected = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", output));
  } else {
    return true;
  }
  for (let i = 0; i < expected.length; i++) if (b[at + i] !== expected[i]) return false;
  return true;
}

// LZMA probabilities, one Uint16Array: offsets of each group (see the LZMA specification).
const IS_MATCH = 0; // 12 states x 16 pos states
const IS_REP = 192;
const IS_REP_G0 = 204;
const IS_REP_G1 = 216;
const IS_REP_G2 = 228;
const IS_REP0_LONG = 240; // 12 x 16
const POS_SLOT = 432; // 4 length states x 64
const SPEC_POS = 688; // 115
const ALIGN = 803; // 16
const LEN = 819; // choice, choice2, low 16 x 8, mid 16 x 8, high 256
const REP_LEN = 1333;
const LITERAL = 1847; // 0x300 << (lc + lp), lc + lp <= 4
const PROBABILITIES = LITERAL + (0x300 << 4);

/**
 * One block's LZMA2 data from b[inPos], not reading at or past inEnd, into out[outPos..].
 * Throws FULL where it would write at `limit` (or a corrupt-stream error at `blockEnd`, the
 * block header's uncompressed size). Returns the offsets after the end marker. `probs`
 * (PROBABILITIES entries) is working space, set before use.
 */
function lzma2(b, inPos, inEnd, out, outPos, limit, blockEnd, dictSize, probs) {
  const outStop = Math.min(limit, blockEnd);
  let dictStart = outPos;
  let needDictReset = true;
  let needProps = true;
  let [lc, lp, pb] = [0, 0, 0];
  let [state, rep0, rep1, rep2, rep3] = [0, 0, 0, 0, 0];
  // The range coder's range and code are unsigned 32-bit values: kept in a typed array, since
  // a closure variable holding a number past 2^30 would be boxed on every store.
  const coder = new Uint32Array(2); // [range, code]
  let chunkEnd = 0; // where the current LZMA chunk declares it ends
  let chunkLimit = 0; // min(chunkEnd, inEnd): no byte at or past it is read

  const full = () => {
    throw outPos === blockEnd ? corrupt("a block holds more data than its header says") : FULL;
  };
  // Input that runs out once the output is full is not an error (liblzma waits for more).
  const truncated = () => {
    if (outPos === outStop) full();
    throw corrupt("the LZMA2 data is truncated");
  };
  const byte = () => (inPos < inEnd ? b[inPos++] : truncated());
  const rcByte = () => {
    if (inPos < chunkLimit) return b[inPos++];
    if (inPos >= inEnd) return truncated();
    throw corrupt("an LZMA chunk runs past its compressed size");
  };
  /** One bit decoded with probability probs[i], which is then updated. */
  const bit = (i) => {
    let range = coder[0];
    if (range < 0x1000000) {
      range = (range << 8) >>> 0;
      coder[1] = (coder[1] << 8) | rcByte();
    }
    const code = coder[1];
    const p = probs[i];
    const bound = (range >>> 11) * p;
    if (code < bound) {
      coder[0] = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      return 0;
    }
    coder[0] = range - bound;
    coder[1] = code - bound;
    probs[i] = p - (p >>> 5);
    return 1;
  };
  const direct = (count) => {
    let result = 0;
    let [range, code] = coder;
    for (; count > 0; count--) {
      if (range < 0x1000000) {
        range = (range << 8) >>> 0;
        code = ((code << 8) | rcByte()) >>> 0;
      }
      range >>>= 1;
      code = (code - range) >>> 0; // as liblzma, in unsigned 32-bit arithmetic
      if (code >= 0x80000000) {
        code = (code + range) >>> 0;
        result *= 2;
      } else {
        result = result * 2 + 1;
      }
    }
    [coder[0], coder[1]] = [range, code];
    return result;
  };
  const tree = (base, bits) => {
    let m = 1;
    for (let i = 0; i < bits; i++) m = (m << 1) | bit(base + m);
    return m - (1 << bits);
  };
  const reverse = (base, bits) => {
    let m = 1;
    let symbol = 0;
    for (let i = 0; i < bits; i++) {
      const v = bit(base + m);
      m = (m << 1) | v;
      symbol |= v << i;
    }
    return symbol;
  };
  const length = (base, posState) => {
    if (!bit(base)) return 2 + tree(base + 2 + (posState << 3), 3);
    if (!bit(base + 1)) return 10 + tree(base + 130 + (posState << 3), 3);
    return 18 + tree(base + 258, 8);
  };
  const distance = (len) => {
    const slot = tree(POS_SLOT + ((len < 5 ? len - 2 : 3) << 6), 6);
    if (slot < 4) return slot;
    const bits = (slot >>> 1) - 1;
    const base = ((2 | (slot & 1)) << bits) >>> 0; // bits <= 30: fits in 32 unsigned bits
    if (slot < 14) return base + reverse(SPEC_POS + base - slot, bits);
    return base + direct(bits - 4) * 16 + reverse(ALIGN, 4);
  };

  /** One LZMA chunk, ending at output offset `stop` and input offset chunkEnd. */
  const chunk = (stop) => {
    if (rcByte() !== 0) throw corrupt("an LZMA chunk does not start with a zero byte");
    coder[0] = 0xffffffff;
    coder[1] = 0;
    for (let i = 0; i < 4; i++) coder[1] = (coder[1] << 8) | rcByte();
    const pbMask = (1 << pb) - 1;
    const lpMask = (1 << lp) - 1;
    while (outPos !== stop) {
      // With no room left, liblzma still decodes one more symbol (and may find it invalid)
      // before it stops; so does this decoder.
      const last = outPos === outStop;
      const pos = outPos - dictStart;
      const posState = pos & pbMask;
      if (!bit(IS_MATCH + (state << 4) + posState)) {
        const previous = pos > 0 ? out[outPos - 1] : 0;
        const base = LITERAL + 0x300 * (((pos & lpMask) << lc) + (previous >>> (8 - lc)));
        let symbol = 1;
        if (state >= 7) {
          let match = out[outPos - rep0 - 1];
          do {
            const matchBit = (match >>> 7) & 1;
            match <<= 1;
            const v = bit(base + ((1 + matchBit) << 8) + symbol);
            symbol = (symbol << 1) | v;
            if (v !== matchBit) break;
          } while (symbol < 0x100);
        }
        while (symbol < 0x100) symbol = (symbol << 1) | bit(base + symbol);
        if (last) full();
        out[outPos++] = symbol & 0xff;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len;
      if (!bit(IS_REP + state)) {
        len = length(LEN, posState);
        state = state < 7 ? 7 : 10;
        const dist = distance(len);
        [rep3, rep2, rep1, rep0] = [rep2, rep1, rep0, dist];
        if (dist >= Math.min(pos, dictSize)) throw corrupt("a match reaches before the dictionary");
      } else {
        if (pos === 0) throw corrupt("a repeated match in an empty dictionary");
        if (!bit(IS_REP_G0 + state)) {
          if (!bit(IS_REP0_LONG + (state << 4) + posState)) {
            state = state < 7 ? 9 : 11;
            if (last) full();
            out[outPos] = out[outPos - rep0 - 1];
            outPos++;
            continue;
          }
        } else {
          let dist;
          if (!bit(IS_REP_G1 + state)) {
            dist = rep1;
          } else {
            if (!bit(IS_REP_G2 + state)) {
              dist = rep2;
            } else {
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        len = length(REP_LEN, posState);
        state = state < 7 ? 8 : 11;
      }
      const n = Math.min(len, Math.min(stop, outStop) - outPos);
      for (let i = 0, from = outPos - rep0 - 1; i < n; i++) out[outPos++] = out[from + i];
      if (n < len) {
        if (outPos === stop) throw corrupt("a match runs past the end of its LZMA chunk");
        full();
      }
    }
    if (coder[0] < 0x1000000) coder[1] = (coder[1] << 8) | rcByte();
    if (coder[1] !== 0 || inPos !== chunkEnd) throw corrupt("an LZMA chunk does not end where it says");
  };

  for (;;) {
    const control = byte();
    if (control === 0) return [inPos, outPos];
    if (control >= 0xe0 || control === 1) {
      needProps = true;
      needDictReset = false;
      dictStart = outPos;
    } else if (needDictReset) {
      throw corrupt("the first LZMA2 chunk does not reset the dictionary");
    }
    if (control >= 0x80) {
      const size = (control & 0x1f) * 65536 + byte() * 256 + byte() + 1;
      const packed = byte() * 256 + byte() + 1;
      if (control >= 0xc0) {
        const props = byte();
        if (props > 224) throw corrupt("invalid LZMA properties");
        lc = props % 9;
        lp = Math.floor(props / 9) % 5;
        pb = Math.floor(props / 45);
        if (lc + lp > 4) throw corrupt("LZMA2 allows lc + lp <= 4 only");
        needProps = false;
      } else if (needProps) {
        throw corrupt("an LZMA chunk without properties after a dictionary reset");
      }
      if (control >= 0xa0) {
        probs.fill(1024, 0, LITERAL + (0x300 << (lc + lp))); // what this lc, lp use
        [state, rep0, rep1, rep2, rep3] = [0, 0, 0, 0, 0];
      }
      chunkEnd = inPos + packed;
      chunkLimit = Math.min(chunkEnd, inEnd);
      chunk(outPos + size);
    } else {
      if (control > 2) throw corrupt(`invalid LZMA2 control byte 0x${control.toString(16)}`);
      const size = byte() * 256 + byte() + 1;
      const room = outStop - outPos;
      const n = Math.min(size, room, inEnd - inPos);
      out.set(b.subarray(inPos, inPos + n), outPos);
      inPos += n;
      outPos += n;
      if (n < size) {
        if (n === room) full();
        throw corrupt("the LZMA2 data is truncated");
      }
    }
  }
}

/**
 * Spec 7.4 for compression 2: the stored .xz stream decompressed to exactly rawLength bytes.
 * @param {Uint8Array} stored the stored data
 * @param {number} rawLength the size the header declares
 * @returns {Promise<Uint8Array>}
 * @throws {XzError} reason "corrupt-stream" or "wrong-size", at the first step that fails
 */
export async function decompress(stored, rawLength) {
  const { checkId, checkSize, blocks } = checkStructure(stored);
  const limit = rawLength + 1;
  const out = new Uint8Array(limit);
  const probs = new Uint16Array(PROBABILITIES);
  let outPos = 0;
  for (const block of blocks) {
    const { at, header, payload } = block;
    const start = at + header.size;
    const inEnd = header.compressed === null ? stored.length : start + header.compressed;
    const blockEnd = header.uncompressed === null ? Infinity : outPos + header.uncompressed;
    const blockStart = outPos;
    let inPos;
    try {
      [inPos, outPos] = lzma2(stored, start, inEnd, out, outPos, limit, blockEnd, header.dictionary, probs);
    } catch (error) {
      if (error !== FULL) throw error;
      throw new XzError(`data decompresses to more than the ${rawLength} bytes declared`, "wrong-size");
    }
    if (inPos - start !== payload) throw corrupt("a block's data does not end where the index says");
    if (header.uncompressed !== null && outPos - blockStart !== header.uncompressed) {
      throw corrupt("a block holds less data than its header says");
    }
    for (; (inPos - at) % 4; inPos++) if (stored[inPos]) throw corrupt("non-zero block padding");
    if (!(await checkMatches(checkId, stored, inPos, out.subarray(blockStart, outPos)))) {
      throw corrupt("a block's integrity check does not match its data");
    }
    block.actual = outPos - blockStart;
  }
  if (blocks.some((block) => block.actual !== block.size)) {
    throw corrupt("the index disagrees with the blocks' uncompressed sizes");
  }
  if (outPos === limit) {
    throw new XzError(`data decompresses to more than the ${rawLength} bytes declared`, "wrong-size");
  }
  if (outPos < rawLength) {
    throw new XzError(`data decompresses to ${outPos} bytes, header declares ${rawLength}`, "wrong-size");
  }
  return out.subarray(0, rawLength);
}
