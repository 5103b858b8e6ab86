import type { Ack, Decoded, Rejection, SourceRecord } from '../../pipeline/contracts.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The record's text without a leading BOM, or undefined when its bytes are not valid UTF-8. */
export function textOf(raw: string | Uint8Array): string | undefined {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else {
    try {
      text = utf8.decode(raw);
    } catch {
      return undefined;
    }
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Size of the record's bytes (UTF-8 length for text), counted only as far as needed. */
export function byteSize(raw: string | Uint8Array, limit: number): number {
  if (typeof raw !== 'string') return raw.byteLength;
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no count.
  if (raw.length * 3 <= limit) return raw.length;
  return Buffer.byteLength(raw, 'utf8');
}

/**
 * The value at `name` in `doc`: the key itself first (today's flat fields, even with a dot in
 * the name), else a dotted path through nested objects (`values.motor.temp`), own keys only.
 */
export function fieldAt(doc: Record<string, unknown>, name: string): unknown {
  const v = doc[name];
  if (v !== undefined || !name.includes('.')) return v;
  let node: unknown = doc;
  for (const part of name.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, part))
      return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A sensor id template (`{site}/{line}/{device}`) compiled once. */
export interface Template {
  /** The id, or `{ missing }` naming the first placeholder with no usable value. */
  render(lookup: (path: string) => unknown): string | { missing: string };
  readonly fields: readonly string[];
}

export function compileTemplate(template: string): Template {
  const parts: Array<{ text: string } | { field: string }> = [];
  const re = /\{([^{}]+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) parts.push({ text: template.slice(last, m.index) });
    parts.push({ field: m[1]!.trim() });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  const fields = parts.flatMap((p) => ('field' in p ? [p.field] : []));
  return {
    fields,
    render(lookup) {
      let out = '';
      for (const p of parts) {
        if ('text' in p) {
          out += p.text;
          continue;
        }
        const v = lookup(p.field);
        if (typeof v === 'string' && v.trim() !== '') out += v;
        else if (typeof v === 'number' && Number.isFinite(v)) out += String(v);
        else if (typeof v === 'boolean') out += String(v);
        else return { missing: p.field };
      }
      return out;
    },
  };
}

/** `n` acks that call `ack` once, after the last of them: one record's share per reading. */
export function shareAck(ack: Ack, n: number): Ack {
  if (n === 1) return ack;
  let left = n;
  let done = false;
  return () => {
    if (done) return;
    if (--left === 0) {
      done = true;
      ack();
    }
  };
}

/** One ack for several records (a joined reading): acks each of them once. */
export function ackEach(acks: readonly Ack[]): Ack {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const a of acks) a();
  };
}

/**
 * `rec` with a part of its content and a share of its ack: one of several readings in it. A
 * record found in the dead-letter topic had one of its parts rejected; its other readings may
 * not have been written before, so they are scored again (their rejections are not re-written).
 */
export function part(rec: SourceRecord, raw: string, ack: Ack): SourceRecord {
  const out: SourceRecord = { ...rec, raw, ack };
  if (rec.deadLettered) delete out.replayOnly;
  return out;
}

/** The same rejection for each record of a reading that is rejected as a whole. */
export function rejectEach(records: readonly SourceRecord[], r: Rejection): Rejection[] {
  return records.map((rec) => {
    const out: Rejection = {
      ...r,
      raw: rec.raw,
      origin: rec.origin,
      arrivedAt: rec.arrivedAt,
      seq: rec.seq,
      ack: rec.ack,
    };
    if (rec.key !== undefined) out.key = rec.key;
    else delete out.key;
    if (rec.replayOnly) out.replayOnly = true;
    else delete out.replayOnly;
    return out;
  });
}

/** Flattens decode's one-or-many result into `into`. */
export function pushDecoded(into: Decoded[], out: Decoded | readonly Decoded[]): void {
  if (Array.isArray(out)) for (const o of out as readonly Decoded[]) into.push(o);
  else into.push(out as Decoded);
}

/** `decodeMany` for a decoder whose `decode` takes one record at a time: every output, in order. */
export function decodeEach<R>(decode: (rec: R) => Decoded | readonly Decoded[]): (records: Iterable<R>) => Decoded[] {
  return (records) => {
    const out: Decoded[] = [];
    for (const r of records) pushDecoded(out, decode(r));
    return out;
  };
}

/** A value's own JSON, for its dead-letter record; the whole message when it cannot be written. */
export function jsonOrRaw(value: unknown, raw: string | Uint8Array): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    // Nesting deeper than the stack JSON.stringify recurses on.
    return typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
  }
}
