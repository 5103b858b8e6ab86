/**
 * JSON for decision state: plain numbers, booleans, strings, arrays and objects, with what JSON
 * cannot hold spelled out — typed arrays as base64 of their bytes (little-endian, as every
 * platform aemon runs on stores them) and non-finite numbers by name. A state read back is
 * checked against a fresh state's shape ({@link conforms}) before a policy takes it.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const NON_FINITE = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

function bytes(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** The JSON form of `value` (typed arrays and non-finite numbers tagged). */
export function encodeState(value: unknown): Json {
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $n: String(value) };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (value instanceof Float32Array) return { $f32: bytes(value) };
  if (value instanceof Float64Array) return { $f64: bytes(value) };
  if (value instanceof Uint8Array) return { $u8: bytes(value) };
  if (Array.isArray(value)) return value.map(encodeState);
  if (typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out[k] = encodeState(v);
    return out;
  }
  return null;
}

function typed<T extends Float32Array | Float64Array | Uint8Array>(
  text: unknown,
  make: (n: number) => T,
  width: number,
): T | undefined {
  if (typeof text !== 'string') return undefined;
  const b = Buffer.from(text, 'base64');
  if (b.length % width !== 0) return undefined;
  const out = make(b.length / width);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** The value `encodeState` gave `json` for; an ill-formed tag stays a plain object (and then fails {@link conforms}). */
export function decodeState(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(decodeState);
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    const v = o[k];
    let t: unknown;
    if (k === '$n' && typeof v === 'string' && Object.hasOwn(NON_FINITE, v))
      return NON_FINITE[v as keyof typeof NON_FINITE];
    if (k === '$f32') t = typed(v, (n) => new Float32Array(n), 4);
    else if (k === '$f64') t = typed(v, (n) => new Float64Array(n), 8);
    else if (k === '$u8') t = typed(v, (n) => new Uint8Array(n), 1);
    if (t !== undefined) return t;
  }
  const out: Record<string, unknown> = {};
  // Own properties only, so a key like `__proto__` stays data.
  for (const k of keys) Object.defineProperty(out, k, { value: decodeState(o[k]), enumerable: true, writable: true });
  return out;
}

/**
 * Whether `value` has `template`'s shape: the same kind at every key of the template (a number, a
 * boolean, a string, an array, the same typed array, an object); a `null` in the template allows
 * anything there (a field that is null or not).
 */
export function conforms(template: unknown, value: unknown): boolean {
  if (template === null) return value !== undefined;
  if (typeof template === 'number') return typeof value === 'number';
  if (typeof template !== 'object') return typeof value === typeof template;
  if (ArrayBuffer.isView(template)) return value instanceof (template.constructor as new () => ArrayBufferView);
  if (Array.isArray(template)) return Array.isArray(value) && value.every((v) => typeof v === 'number');
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  const v = value as Record<string, unknown>;
  for (const [k, t] of Object.entries(template as Record<string, unknown>))
    if (!Object.hasOwn(v, k) || !conforms(t, v[k])) return false;
  return true;
}
