/**
 * InfluxDB line protocol, as InfluxDB documents it and Telegraf writes it:
 *
 *     measurement[,tag=value…] field=value[,field=value…] [timestamp]
 *
 * Escapes: `\,` and `\ ` in the measurement; `\,`, `\=` and `\ ` in tag keys, tag values and
 * field keys; `\"` and `\\` in string field values. A backslash before any other character is
 * itself (so Telegraf's `\n` in a name stays the two characters). Field values: floats (`1`,
 * `-1.5e3`), integers (`12i`), unsigned (`12u`), strings (`"…"`, may hold newlines) and booleans
 * (`t`, `T`, `true`, `True`, `TRUE`, `f`, `F`, `false`, `False`, `FALSE`). Blank lines and
 * lines starting with `#` are skipped.
 */

export type FieldValue = number | boolean | string;

export interface Point {
  measurement: string;
  /** In the order written. */
  tags: Array<[string, string]>;
  fields: Array<[string, FieldValue]>;
  /** The timestamp's digits as written (they may pass 2^53), or undefined when absent. */
  timestamp: string | undefined;
  /** The line's text, for its dead-letter record. */
  line: string;
}

export interface LineError {
  error: string;
  line: string;
}

const NL = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const EQ = 61;
const BACKSLASH = 92;

const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT = /^[+-]?\d+i$/;
const UINT = /^\d+u$/;
const TIMESTAMP = /^-?\d+$/;

class LineSyntaxError extends Error {}

/** Every point of `text` (one per line) or the error of each line that is not one. */
export function parseLines(text: string): Array<Point | LineError> {
  const out: Array<Point | LineError> = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === NL || c === CR || c === SPACE || c === TAB) {
      i++;
      continue;
    }
    if (c === HASH) {
      i = endOfLine(text, i);
      continue;
    }
    const start = i;
    try {
      const p = new LineParser(text, i);
      const point = p.point();
      out.push(point);
      i = p.i;
    } catch (err) {
      if (!(err instanceof LineSyntaxError)) throw err;
      i = endOfLine(text, start);
      out.push({ error: err.message, line: text.slice(start, i) });
    }
  }
  return out;
}

function endOfLine(text: string, from: number): number {
  const j = text.indexOf('\n', from);
  return j === -1 ? text.length : j;
}

class LineParser {
  private readonly start: number;

  constructor(
    private readonly text: string,
    public i: number,
  ) {
    this.start = i;
  }

  private fail(what: string): never {
    throw new LineSyntaxError(`${what} at column ${this.i - this.start + 1}`);
  }

  /** Text up to an unescaped `,`, space (or `=` with `stopEq`), unescaping `\,`, `\ ` (and `\=` with `escapesEq`). */
  private token(stopEq: boolean, escapesEq: boolean): string {
    const t = this.text;
    let out = '';
    let from = this.i;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (Number.isNaN(c) || c === NL || c === CR || c === SPACE || c === COMMA || (stopEq && c === EQ)) break;
      if (c === BACKSLASH) {
        const d = t.charCodeAt(this.i + 1);
        if (d === COMMA || d === SPACE || (escapesEq && d === EQ)) {
          out += t.slice(from, this.i);
          this.i += 2;
          from = this.i - 1;
          continue;
        }
      }
      this.i++;
    }
    return out + t.slice(from, this.i);
  }

  private expect(code: number, what: string): void {
    if (this.text.charCodeAt(this.i) !== code) this.fail(`expected ${what}`);
    this.i++;
  }

  private spaces(): number {
    const from = this.i;
    while (this.text.charCodeAt(this.i) === SPACE || this.text.charCodeAt(this.i) === TAB) this.i++;
    return this.i - from;
  }

  private atEnd(): boolean {
    const c = this.text.charCodeAt(this.i);
    return (
      Number.isNaN(c) ||
      c === NL ||
      (c === CR && (this.text.charCodeAt(this.i + 1) === NL || this.i + 1 >= this.text.length))
    );
  }

  point(): Point {
    const measurement = this.token(false, false);
    if (measurement === '') this.fail('missing measurement');
    const tags: Array<[string, string]> = [];
    while (this.text.charCodeAt(this.i) === COMMA) {
      this.i++;
      const key = this.token(true, true);
      if (key === '') this.fail('empty tag key');
      this.expect(EQ, `= after tag key ${JSON.stringify(key)}`);
      const value = this.token(true, true);
      if (value === '') this.fail(`empty value of tag ${JSON.stringify(key)}`);
      tags.push([key, value]);
    }
    if (this.spaces() === 0) this.fail('expected a space before the fields');
    const fields: Array<[string, FieldValue]> = [];
    for (;;) {
      const key = this.token(true, true);
      if (key === '') this.fail('empty field key');
      this.expect(EQ, `= after field key ${JSON.stringify(key)}`);
      fields.push([key, this.fieldValue(key)]);
      if (this.text.charCodeAt(this.i) !== COMMA) break;
      this.i++;
    }
    let timestamp: string | undefined;
    if (this.spaces() > 0 && !this.atEnd()) {
      const from = this.i;
      while (!this.atEnd() && this.text.charCodeAt(this.i) !== SPACE && this.text.charCodeAt(this.i) !== TAB) this.i++;
      timestamp = this.text.slice(from, this.i);
      if (!TIMESTAMP.test(timestamp)) {
        this.i = from;
        this.fail(`timestamp ${JSON.stringify(timestamp.slice(0, 40))} is not an integer`);
      }
      this.spaces();
    }
    if (this.text.charCodeAt(this.i) === CR) this.i++;
    if (!this.atEnd()) this.fail('unexpected text after the fields');
    return { measurement, tags, fields, timestamp, line: this.text.slice(this.start, this.i) };
  }

  private fieldValue(key: string): FieldValue {
    const t = this.text;
    if (t.charCodeAt(this.i) === QUOTE) {
      this.i++;
      let out = '';
      let from = this.i;
      for (;;) {
        const c = t.charCodeAt(this.i);
        if (Number.isNaN(c)) this.fail(`unterminated string in field ${JSON.stringify(key)}`);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          const d = t.charCodeAt(this.i + 1);
          if (d === QUOTE || d === BACKSLASH) {
            out += t.slice(from, this.i);
            this.i += 2;
            from = this.i - 1;
            continue;
          }
        }
        this.i++;
      }
      out += t.slice(from, this.i);
      this.i++;
      return out;
    }
    const from = this.i;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (Number.isNaN(c) || c === COMMA || c === SPACE || c === TAB || c === NL || c === CR) break;
      this.i++;
    }
    const raw = t.slice(from, this.i);
    if (raw === '') this.fail(`missing value of field ${JSON.stringify(key)}`);
    if (FLOAT.test(raw)) return Number(raw);
    if (INT.test(raw) || UINT.test(raw)) return Number(raw.slice(0, -1));
    if (TRUE.has(raw)) return true;
    if (FALSE.has(raw)) return false;
    this.i = from;
    return this.fail(
      `field ${JSON.stringify(key)} has value ${JSON.stringify(raw.slice(0, 40))}, not a number, boolean or string`,
    );
  }
}

export function isLineError(p: Point | LineError): p is LineError {
  return (p as LineError).error !== undefined;
}
