/** Event times as producers write them: ISO-8601 strings and epoch milliseconds. */

// Date-like strings only: `Date.parse` alone accepts too much ("yesterday" in some engines, "1").
// The space form is NAB's and SKAB's `YYYY-MM-DD HH:MM:SS`; without a zone we read UTC.
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const EPOCH_RE = /^-?\d+(?:\.\d+)?$/;
const MAX_EPOCH_MS = 8.64e15;

/** Event time of a `ts` value (ISO-8601 string, epoch ms number or numeric string), or undefined. */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return epochMs(value);
  if (typeof value !== 'string') return undefined;
  const fast = canonicalIso(value);
  if (fast !== undefined) return fast;
  const s = value.trim();
  if (EPOCH_RE.test(s)) return epochMs(Number(s));
  const m = ISO_RE.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  // Date.parse rolls 2014-02-30 over to March; reject impossible dates and times instead.
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  const ms = (frac + '000').slice(0, 3);
  const z = zone === undefined || zone.toUpperCase() === 'Z' ? 'Z' : normaliseZone(zone);
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${sec}.${ms}${z}`);
  return Number.isNaN(t) ? undefined : t;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The text of a timestamp: a string, or the ASCII bytes of one inside a record. */
type Chars = string | Uint8Array;

const codeAt = (s: Chars, i: number): number => (typeof s === 'string' ? s.charCodeAt(i) : s[i]!);

/** The `n` decimal digits of `s` at `at` as a number, or -1 if one is not a digit. */
function digitsAt(s: Chars, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = codeAt(s, i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ` or `YYYY-MM-DDTHH:MM:SSZ` exactly (what `toISOString` and most
 * producers write), without a regex, a Date or a string built per reading: a full parse of an
 * ISO timestamp costs about as much as the JSON.parse of the whole reading. Undefined for
 * anything else, including impossible dates and years before 100 (Date.UTC reads 0–99 as
 * 1900–1999): the full parse decides those. `s` may be the bytes of a record, with the
 * timestamp's `n` characters at `at`.
 */
export function canonicalIso(s: Chars, at = 0, n = s.length): number | undefined {
  if (n !== 24 && n !== 20) return undefined;
  if (
    codeAt(s, at + 4) !== 45 ||
    codeAt(s, at + 7) !== 45 ||
    codeAt(s, at + 10) !== 84 ||
    codeAt(s, at + 13) !== 58 ||
    codeAt(s, at + 16) !== 58
  )
    return undefined;
  if (codeAt(s, at + n - 1) !== 90 || (n === 24 && codeAt(s, at + 19) !== 46)) return undefined;
  const year = digitsAt(s, at, 4);
  const month = digitsAt(s, at + 5, 2);
  const day = digitsAt(s, at + 8, 2);
  const h = digitsAt(s, at + 11, 2);
  const mi = digitsAt(s, at + 14, 2);
  const sec = digitsAt(s, at + 17, 2);
  const ms = n === 24 ? digitsAt(s, at + 20, 3) : 0;
  if (
    year < 100 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    h < 0 ||
    h > 23 ||
    mi < 0 ||
    mi > 59 ||
    sec < 0 ||
    sec > 59 ||
    ms < 0
  )
    return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return undefined;
  return Date.UTC(year, month - 1, day, h, mi, sec, ms);
}

function normaliseZone(zone: string): string {
  const digits = zone.slice(1).replace(':', '');
  return `${zone[0]}${digits.slice(0, 2)}:${(digits.slice(2) + '00').slice(0, 2)}`;
}

function epochMs(n: number): number | undefined {
  if (!Number.isFinite(n) || Math.abs(n) > MAX_EPOCH_MS) return undefined;
  // Event time has millisecond resolution.
  return Math.round(n);
}

/**
 * A time column of a data file (NAB's and SKAB's `YYYY-MM-DD HH:MM:SS[.ffffff]`, read as UTC):
 * `parseTimestamp`, else whatever `Date.parse` reads; NaN if neither does.
 */
export function parseTimeColumn(text: string): number {
  return parseTimestamp(text) ?? Date.parse(text);
}
