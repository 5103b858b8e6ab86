import { READING_FORMATS, readingSchema, type ReadingFormat } from '../src/config/schema.js';
import type { SourceRecord } from '../src/pipeline/contracts.js';
import { quantile } from '../src/pipeline/calibration.js';
import { isRejection } from '../src/sources/decode.js';
import type { RegistrySchema, SchemaRegistryClient } from '../src/sources/decoders/registry.js';
import { createRecordDecoder } from '../src/sources/decoders/select.js';
import { frame } from '../src/sources/decoders/wire.js';
import avro from 'avsc';
import protobuf from 'protobufjs';

export interface DecodeRow {
  name: 'decode';
  format: ReadingFormat;
  /** Messages decoded per second (narrow: four per reading). */
  messagesPerSecond: number;
  readingsPerSecond: number;
  readings: number;
}

const CHANNELS = ['current', 'pressure', 'temperature', 'vibration'];
const T0 = Date.UTC(2026, 0, 1);

// The Schema Registry formats: one schema each, looked up once before the timed passes (a
// schema is fetched once per id, never per record).
const AVRO = {
  type: 'record',
  name: 'Reading',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'ts', type: 'long' },
    { name: 'values', type: { type: 'map', values: 'double' } },
  ],
};
const PROTO = 'syntax = "proto3"; message Reading { string sensor = 1; int64 ts = 2; map<string, double> values = 3; }';
const JSON_SCHEMA = { type: 'object', required: ['sensor', 'ts', 'values'] };
const SCHEMAS = new Map<number, RegistrySchema>([
  [1, { type: 'AVRO', text: JSON.stringify(AVRO), references: 0 }],
  [2, { type: 'PROTOBUF', text: PROTO, references: 0 }],
  [3, { type: 'JSON', text: JSON.stringify(JSON_SCHEMA), references: 0 }],
]);
const registry: SchemaRegistryClient = {
  schema: (id) => Promise.resolve(SCHEMAS.get(id)!),
};
const avroType = avro.Type.forSchema(AVRO as avro.Schema);
const ProtoReading = protobuf.parse(PROTO).root.lookupType('Reading');

/** `sensors` × `steps` readings of 4 channels in `format`, as the bytes a Kafka message holds. */
function messages(format: ReadingFormat, sensors: number, steps: number): Uint8Array[] {
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  for (let k = 0; k < steps; k++) {
    const ts = T0 + k * 1000;
    for (let s = 0; s < sensors; s++) {
      const values: Record<string, number> = {};
      CHANNELS.forEach((c, i) => (values[c] = Math.round((50 + 10 * Math.sin(k / 7 + s + i)) * 1e4) / 1e4));
      const sensor = `sensor-${s}`;
      if (format === 'avro') out.push(frame(1, avroType.toBuffer({ sensor, ts, values })));
      else if (format === 'protobuf')
        out.push(frame(2, ProtoReading.encode(ProtoReading.fromObject({ sensor, ts, values })).finish(), [0]));
      else if (format === 'json-schema') out.push(frame(3, enc.encode(JSON.stringify({ sensor, ts, values }))));
      else if (format === 'json')
        out.push(enc.encode(JSON.stringify({ sensor, ts: new Date(ts).toISOString(), values })));
      else if (format === 'telegraf-json')
        out.push(enc.encode(JSON.stringify({ fields: values, name: 'plant', tags: { sensor }, timestamp: ts / 1000 })));
      else if (format === 'influx')
        out.push(
          enc.encode(`plant,sensor=${sensor} ${CHANNELS.map((c) => `${c}=${values[c]}`).join(',')} ${ts}000000`),
        );
      else
        for (const c of CHANNELS)
          out.push(
            enc.encode(JSON.stringify({ sensor, ts: new Date(ts).toISOString(), channel: c, value: values[c] })),
          );
    }
  }
  return out;
}

/**
 * Decode alone, per format: the same readings in each format's bytes through its decoder's
 * batch call (1,000 messages per call), the median of `rounds` passes.
 */
export async function benchDecode(sensors = 1000, steps = 20, rounds = 3): Promise<DecodeRow[]> {
  const rows: DecodeRow[] = [];
  for (const format of READING_FORMATS) {
    const raw = messages(format, sensors, steps);
    const cfg = readingSchema.parse(
      format === 'narrow'
        ? { format, channels: CHANNELS }
        : { format, schemaRegistry: { url: 'http://127.0.0.1:8081' } },
    );
    const rates: number[] = [];
    let readings = 0;
    for (let round = 0; round < rounds; round++) {
      const decoder = createRecordDecoder(cfg, { now: () => T0 + steps * 1000, registry });
      const recs: SourceRecord[] = raw.map((bytes, seq) => ({
        raw: bytes,
        origin: { source: 'bench' },
        arrivedAt: 0,
        seq,
        ack: () => undefined,
      }));
      if (recs[0] !== undefined) await decoder.prepare?.(recs[0]);
      readings = 0;
      const t0 = performance.now();
      for (let i = 0; i < recs.length; i += 1000) {
        for (const o of decoder.decodeMany(recs.slice(i, i + 1000))) {
          if (isRejection(o))
            throw new Error(`decode bench: ${format} rejected a generated record: ${o.reason}: ${o.detail}`);
          readings++;
        }
      }
      for (const o of decoder.flush()) if (isRejection(o)) throw new Error(`decode bench: ${format} left ${o.reason}`);
      rates.push(raw.length / ((performance.now() - t0) / 1000));
    }
    const messagesPerSecond = quantile(rates, 0.5);
    rows.push({
      name: 'decode',
      format,
      messagesPerSecond: Math.round(messagesPerSecond),
      readingsPerSecond: Math.round((messagesPerSecond * readings) / raw.length),
      readings,
    });
  }
  return rows;
}
