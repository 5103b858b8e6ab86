import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import avro from 'avsc';
import protobuf from 'protobufjs';
import { messageIndexes } from './wire.js';
import type { RegistrySchema } from './registry.js';
import { truncate } from './validate.js';

interface AvroTap {
  isValid(): boolean;
  readLong(): number;
  skipLong(): void;
  readString(): string;
}
interface AvroBlockType {
  prototype: { _read(tap: AvroTap): unknown; valuesType?: unknown; itemsType?: unknown };
}

/**
 * avsc reads a map's or an array's block count and loops that many times even past the end of
 * the bytes (it checks the position only once the whole value is read), so a 10-byte record
 * whose block count is 2^40 keeps the decoder busy for hours. These reads stop at the first item
 * past the end; the record is then rejected as any truncated one is.
 */
function guardAvroBlocks(): void {
  const types = (avro as unknown as { types: Record<string, AvroBlockType> }).types;
  const blockCount = (tap: AvroTap): number => {
    let n = tap.readLong();
    if (n < 0) {
      n = -n;
      tap.skipLong();
    }
    return n;
  };
  const past = (): Error => new Error('a map or array block runs past the end of the record');
  types.MapType!.prototype._read = function (this: { valuesType: { _read(t: AvroTap): unknown } }, tap: AvroTap) {
    const val: Record<string, unknown> = {};
    let n: number;
    while ((n = blockCount(tap))) {
      while (n--) {
        if (!tap.isValid()) throw past();
        const key = tap.readString();
        val[key] = this.valuesType._read(tap);
      }
    }
    return val;
  };
  types.ArrayType!.prototype._read = function (this: { itemsType: { _read(t: AvroTap): unknown } }, tap: AvroTap) {
    const val: unknown[] = [];
    let n: number;
    while ((n = blockCount(tap))) {
      while (n--) {
        if (!tap.isValid()) throw past();
        val.push(this.itemsType._read(tap));
      }
    }
    return val;
  };
}
guardAvroBlocks();

export type SchemaFormat = 'avro' | 'protobuf' | 'json-schema';

/** What a record's payload became: the decoded object, or why it does not match its schema. */
export type Parsed = { doc: unknown } | { mismatch: string } | { badFrame: string };

/** A registry schema made ready to decode payloads (`offset`: where the bytes after the id start). */
export type Parser = (raw: Uint8Array, offset: number) => Parsed;

const REGISTRY_TYPE: Record<SchemaFormat, string> = { avro: 'AVRO', protobuf: 'PROTOBUF', 'json-schema': 'JSON' };

const message = (err: unknown): string => truncate(err instanceof Error ? err.message : String(err));

function avroParser(text: string): Parser {
  const type = avro.Type.forSchema(JSON.parse(text) as avro.Schema, { wrapUnions: 'auto' });
  return (raw, offset) => {
    try {
      // fromBuffer fails on cut-off and on trailing bytes: both mean another schema wrote it.
      return { doc: type.fromBuffer(Buffer.from(raw.buffer, raw.byteOffset + offset, raw.byteLength - offset)) };
    } catch (err) {
      return { mismatch: `not Avro of schema ${type.name ?? type.typeName}: ${message(err)}` };
    }
  };
}

/** The message types declared directly in `ns`, in file order (what message indexes count). */
function messagesIn(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.filter((t): t is protobuf.Type => t instanceof protobuf.Type);
}

function protobufParser(text: string): Parser {
  const parsed = protobuf.parse(text, { keepCase: true });
  parsed.root.resolveAll();
  let top: protobuf.NamespaceBase = parsed.root;
  if (parsed.package !== undefined) {
    const ns = parsed.root.lookup(parsed.package);
    if (ns instanceof protobuf.Namespace) top = ns;
  }
  if (messagesIn(top).length === 0) throw new Error('the .proto declares no message');
  const byPath = new Map<string, protobuf.Type | undefined>();
  const typeAt = (indexes: readonly number[]): protobuf.Type | undefined => {
    const key = indexes.join(',');
    if (byPath.has(key)) return byPath.get(key);
    let ns: protobuf.NamespaceBase = top;
    let found: protobuf.Type | undefined;
    for (const i of indexes) {
      found = messagesIn(ns)[i];
      if (found === undefined) break;
      ns = found;
    }
    if (byPath.size < 1024) byPath.set(key, found);
    return found;
  };
  return (raw, offset) => {
    const ix = messageIndexes(raw, offset);
    if ('error' in ix) return { badFrame: ix.error };
    const type = typeAt(ix.indexes);
    if (type === undefined)
      return { mismatch: `message index [${ix.indexes.join(',')}] names no message of the schema` };
    try {
      const msg = type.decode(raw.subarray(ix.offset));
      return { doc: type.toObject(msg, { longs: Number, enums: String, bytes: String, defaults: true }) };
    } catch (err) {
      return { mismatch: `not Protobuf ${type.name}: ${message(err)}` };
    }
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function jsonSchemaParser(text: string): Parser {
  const schema = JSON.parse(text) as unknown;
  const draft =
    typeof schema === 'object' && schema !== null ? String((schema as { $schema?: unknown }).$schema ?? '') : '';
  const options = { strict: false, allErrors: false, validateFormats: false };
  const ajv = draft.includes('2020-12')
    ? new Ajv2020(options)
    : draft.includes('2019-09')
      ? new Ajv2019(options)
      : new Ajv(options);
  const validate: ValidateFunction = ajv.compile(schema as object);
  return (raw, offset) => {
    let doc: unknown;
    try {
      doc = JSON.parse(utf8.decode(raw.subarray(offset)));
    } catch (err) {
      return { mismatch: `not JSON: ${message(err)}` };
    }
    if (validate(doc)) return { doc };
    const e = validate.errors?.[0];
    return {
      mismatch: `does not match its JSON Schema: ${e ? `${e.instancePath || '/'} ${e.message ?? ''}` : 'invalid'}`,
    };
  };
}

/** A parser for the schema, or throws (an unusable schema: wrong type, unparsable, references). */
export function compileSchema(format: SchemaFormat, schema: RegistrySchema): Parser {
  if (schema.type !== REGISTRY_TYPE[format])
    throw new Error(`a ${schema.type} schema, but reading.format is ${format} (${REGISTRY_TYPE[format]})`);
  if (schema.references > 0)
    throw new Error(`it references ${schema.references} other schema(s), which aemon does not read`);
  if (format === 'avro') return avroParser(schema.text);
  if (format === 'protobuf') return protobufParser(schema.text);
  return jsonSchemaParser(schema.text);
}
