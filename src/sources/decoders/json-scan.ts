import { canonicalIso } from '../../shared/time.js';

// Bytes of JSON's grammar.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Exact powers of ten: an exact mantissa (below 2^53) times or over one of these is one correctly rounded IEEE operation, as JSON.parse's reading is. */
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Channels a reading may have on the fast path; more go the general way. */
const MAX_CHANNELS = 64;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Strings of record bytes, made once per distinct byte sequence (sensor ids, channel names):
 * a reading of a known sensor allocates no string for them. Bounded: past `max` entries a new
 * sequence is made fresh each time, so unbounded distinct ids cannot grow it.
 */
class ByteStrings {
  private readonly known = new Map<number, string>();

  constructor(private readonly max: number) {}

  get(b: Uint8Array, start: number, end: number): string {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const hit = this.known.get(h);
    if (hit !== undefined && sameAscii(hit, b, start, end)) return hit;
    const made = ascii(b, start, end);
    if (hit === undefined && this.known.size < this.max) this.known.set(h, made);
    return made;
  }
}

/** The ASCII text of bytes start..end (Buffer's latin1Slice where it is there: no Buffer made for it). */
function ascii(b: Uint8Array, start: number, end: number): string {
  return b instanceof Buffer
    ? (b as Buffer & { latin1Slice(start: number, end: number): string }).latin1Slice(start, end)
    : Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

function sameAscii(s: string, b: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== b[start + i]) return false;
  return true;
}

function bytesOf(name: string): Uint8Array | undefined {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return undefined;
  }
  return Buffer.from(name, 'latin1');
}

/**
 * Reads the documented reading layout — one JSON object with a sensor string, a time (a
 * `YYYY-MM-DDTHH:MM:SS[.sss]Z` string or a number) and an object of channel → number — straight
 * from a record's bytes, without building the object JSON.parse would. It only ever says yes
 * when JSON.parse would read the same record to the same sensor, time and values; anything
 * else (escapes, non-ASCII bytes, nesting in other fields, a repeated key, a time in another
 * form, a record that is not JSON) it leaves to the general decoder by returning false. After
 * `scan` returns true, the fields below hold what it read, until the next call.
 */
export class JsonReadingScanner {
  sensor = '';
  /** The time field: a number as written, or (with `tsIsIso`) the epoch ms of its ISO string. */
  ts = 0;
  tsIsIso = false;
  /** Channel names and values in the record's order; `count` of them. */
  readonly names: string[] = [];
  readonly values: number[] = [];
  count = 0;

  private readonly strings = new ByteStrings(1 << 17);
  private readonly keys: Uint8Array[];
  private at = 0;

  private constructor(keys: Uint8Array[]) {
    this.keys = keys;
  }

  /** A scanner for these top-level field names, or undefined when one cannot be matched byte for byte. */
  static for(sensorField: string, timeField: string, valuesField: string): JsonReadingScanner | undefined {
    const keys = [sensorField, timeField, valuesField].map(bytesOf);
    if (keys.some((k) => k === undefined) || new Set([sensorField, timeField, valuesField]).size < 3) return undefined;
    return new JsonReadingScanner(keys as Uint8Array[]);
  }

  scan(b: Uint8Array): boolean {
    this.count = 0;
    this.at = 0;
    if (!this.skipSpace(b) || b[this.at] !== OPEN) return false;
    this.at++;
    let seen = 0;
    for (;;) {
      if (!this.skipSpace(b) || b[this.at] !== QUOTE) return false;
      const keyStart = this.at + 1;
      const keyEnd = this.stringEnd(b, keyStart);
      if (keyEnd < 0) return false;
      this.at = keyEnd + 1;
      if (!this.skipSpace(b) || b[this.at] !== COLON) return false;
      this.at++;
      if (!this.skipSpace(b)) return false;
      const field = this.which(b, keyStart, keyEnd);
      if (field >= 0) {
        if ((seen & (1 << field)) !== 0) return false;
        seen |= 1 << field;
      }
      if (field === 0) {
        if (b[this.at] !== QUOTE) return false;
        const end = this.stringEnd(b, this.at + 1);
        // sensorOf trims: an id with space at either end (or none at all) is the general path's.
        if (end <= this.at + 1 || b[this.at + 1] === 0x20 || b[end - 1] === 0x20) return false;
        this.sensor = this.strings.get(b, this.at + 1, end);
        this.at = end + 1;
      } else if (field === 1) {
        if (b[this.at] === QUOTE) {
          const end = this.stringEnd(b, this.at + 1);
          if (end < 0) return false;
          const ts = canonicalIso(b, this.at + 1, end - this.at - 1);
          if (ts === undefined) return false;
          this.ts = ts;
          this.tsIsIso = true;
          this.at = end + 1;
        } else {
          const n = this.number(b);
          if (n === undefined) return false;
          this.ts = n;
          this.tsIsIso = false;
        }
      } else if (field === 2) {
        if (!this.channels(b)) return false;
      } else if (!this.skipScalar(b)) return false;
      if (!this.skipSpace(b)) return false;
      const c = b[this.at];
      this.at++;
      if (c === CLOSE) break;
      if (c !== COMMA) return false;
    }
    // Only space may follow the object.
    return !this.skipSpace(b) && seen === 7;
  }

  /** The object of channel → number at `at`: at least one channel, no name twice, every value finite. */
  private channels(b: Uint8Array): boolean {
    if (b[this.at] !== OPEN) return false;
    this.at++;
    const { names, values } = this;
    for (;;) {
      if (!this.skipSpace(b) || b[this.at] !== QUOTE) return false;
      const end = this.stringEnd(b, this.at + 1);
      if (end < 0) return false;
      const name = this.strings.get(b, this.at + 1, end);
      // An own `__proto__` key is a JSON.parse subtlety; the general path has it.
      if (name === '__proto__' || this.count === MAX_CHANNELS) return false;
      for (let i = 0; i < this.count; i++) if (names[i] === name) return false;
      this.at = end + 1;
      if (!this.skipSpace(b) || b[this.at] !== COLON) return false;
      this.at++;
      if (!this.skipSpace(b)) return false;
      const v = this.number(b);
      if (v === undefined || !Number.isFinite(v)) return false;
      names[this.count] = name;
      values[this.count] = v;
      this.count++;
      if (!this.skipSpace(b)) return false;
      const c = b[this.at];
      this.at++;
      if (c === CLOSE) return true;
      if (c !== COMMA) return false;
    }
  }

  /** Which of the three fields the key at start..end is (0 sensor, 1 time, 2 values), else -1. */
  private which(b: Uint8Array, start: number, end: number): number {
    const n = end - start;
    for (let k = 0; k < 3; k++) {
      const key = this.keys[k]!;
      if (key.length !== n) continue;
      let i = 0;
      while (i < n && key[i] === b[start + i]) i++;
      if (i === n) return k;
    }
    return -1;
  }

  /** Index of the closing quote of a string starting at `start`: printable ASCII, no escapes; else -1. */
  private stringEnd(b: Uint8Array, start: number): number {
    for (let i = start; i < b.length; i++) {
      const c = b[i]!;
      if (c === QUOTE) return i;
      if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
    }
    return -1;
  }

  /** Skips the value of a field the reading does not use: a plain string, a number, true, false or null. */
  private skipScalar(b: Uint8Array): boolean {
    const c = b[this.at];
    if (c === QUOTE) {
      const end = this.stringEnd(b, this.at + 1);
      if (end < 0) return false;
      this.at = end + 1;
      return true;
    }
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number(b) !== undefined;
    for (const word of WORDS) {
      let i = 0;
      while (i < word.length && b[this.at + i] === word[i]) i++;
      if (i === word.length) {
        this.at += i;
        return true;
      }
    }
    return false;
  }

  /** Moves past JSON space; false at the end of the bytes (every caller needs one more byte). */
  private skipSpace(b: Uint8Array): boolean {
    while (this.at < b.length && isSpace(b[this.at]!)) this.at++;
    return this.at < b.length;
  }

  /**
   * A JSON number at `at` (strict grammar: no leading zeros, digits on both sides of the
   * point), as JSON.parse reads it: a mantissa below 2^53 (up to 15 digits always, 16 mostly)
   * and a power of ten up to 22 are one correctly rounded IEEE operation; the others are read
   * by Number from their text.
   */
  private number(b: Uint8Array): number | undefined {
    const start = this.at;
    let i = start;
    const negative = b[i] === MINUS;
    if (negative) i++;
    // Exact while below 2^53: each step is then an exact integer operation (a larger one may
    // have rounded, and the comparison below sends it to Number).
    let mantissa = 0;
    let exponent = 0;
    let c = b[i];
    if (c === ZERO) {
      i++;
    } else if (c !== undefined && c > ZERO && c <= NINE) {
      while ((c = b[i]) !== undefined && c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        i++;
      }
    } else return undefined;
    c = b[i];
    if (c !== undefined && c >= ZERO && c <= NINE) return undefined;
    if (c === DOT) {
      i++;
      const from = i;
      while ((c = b[i]) !== undefined && c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        exponent--;
        i++;
      }
      if (i === from) return undefined;
    }
    c = b[i];
    if (c === 0x65 || c === 0x45) {
      i++;
      let sign = 1;
      if (b[i] === MINUS || b[i] === PLUS) {
        if (b[i] === MINUS) sign = -1;
        i++;
      }
      const from = i;
      let e = 0;
      while ((c = b[i]) !== undefined && c >= ZERO && c <= NINE) {
        if (e < 1e6) e = e * 10 + (c - ZERO);
        i++;
      }
      if (i === from) return undefined;
      exponent += sign * e;
    }
    this.at = i;
    if (mantissa < 2 ** 53 && exponent >= -22 && exponent <= 22) {
      const v = exponent >= 0 ? mantissa * POW10[exponent]! : mantissa / POW10[-exponent]!;
      return negative ? -v : v;
    }
    return Number(ascii(b, start, i));
  }
}

const WORDS = ['true', 'false', 'null'].map((w) => Buffer.from(w, 'latin1'));
