import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import protobuf from 'protobufjs';
import { from } from 'rxjs';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/main.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { Tf } from '../../src/model/backend.js';
import { exportArtifacts, modelVersion } from '../../src/model/io.js';
import { createLogger } from '../../src/observability/logger.js';
import type { PipelineOutput, Rejection, Sink, SourceRecord } from '../../src/pipeline/contracts.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { RegistryError, type RegistrySchema, type SchemaRegistryClient } from '../../src/sources/decoders/registry.js';
import { frame } from '../../src/sources/decoders/wire.js';
import { selectTestBackend, SMALL, TEST_KERNEL } from '../model/fixtures.js';

// No Schema Registry server can be started by the harness yet: the schemas come from a
// lookup that answers as a registry does, and the records are encoded and framed by avsc and
// protobufjs, the libraries producers use.
const T0 = Date.UTC(2026, 0, 1);
const W = SMALL.windowSize;
const CHANNELS = ['x', 'y'];
const AVRO_SCHEMA = {
  type: 'record',
  name: 'Reading',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'ts', type: 'long' },
    {
      name: 'values',
      type: { type: 'record', name: 'Values', fields: CHANNELS.map((c) => ({ name: c, type: 'double' })) },
    },
  ],
};
const PROTO = `syntax = "proto3";
package plant;
message Header { string site = 1; }
message Reading { string sensor = 1; int64 ts = 2; Values values = 3; }
message Values { double x = 1; double y = 2; }`;
const avroType = avro.Type.forSchema(AVRO_SCHEMA as avro.Schema);
const ProtoReading = protobuf.parse(PROTO).root.lookupType('plant.Reading');

/** Answers as a registry does; down (a retriable error) for its first `down` lookups. */
function registry(down: number): SchemaRegistryClient & { calls: number } {
  const byId = new Map<number, RegistrySchema>([
    [7, { type: 'AVRO', text: JSON.stringify(AVRO_SCHEMA), references: 0 }],
    [8, { type: 'PROTOBUF', text: PROTO, references: 0 }],
  ]);
  const r = {
    calls: 0,
    schema(id: number): Promise<RegistrySchema> {
      r.calls++;
      if (r.calls <= down) return Promise.reject(new RegistryError('connect ECONNREFUSED 127.0.0.1:8081', false));
      const s = byId.get(id);
      return s ? Promise.resolve(s) : Promise.reject(new RegistryError(`schema id ${id} is not in the registry`, true));
    },
  };
  return r;
}

async function bundle(tf: Tf, backend: string): Promise<ModelBundle> {
  const model = createAutoencoder(tf, backend, { ...SMALL, channels: CHANNELS.length, seed: 3 }, TEST_KERNEL);
  const { weights, topology } = await exportArtifacts(model);
  const calibration = { mean: [10, 5], std: [2, 1], threshold: 0.5 };
  return {
    model,
    metadata: {
      version: modelVersion(weights, topology),
      createdAt: new Date(T0).toISOString(),
      group: CHANNELS.join(','),
      channels: CHANNELS,
      params: model.params,
      dataFrom: null,
      dataTo: null,
      trainingWindows: 1,
      fit: null,
      sensors: { a: calibration, b: calibration },
      fallback: calibration,
    },
  };
}

interface Sim {
  sensor: string;
  ts: number;
  values: { x: number; y: number };
}

function stream(): Sim[] {
  let seed = 99;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  };
  const out: Sim[] = [];
  for (let i = 0; i < 80; i++) {
    for (const sensor of ['a', 'b']) {
      const load = Math.sin((2 * Math.PI * i) / 20);
      out.push({ sensor, ts: T0 + i * 1000, values: { x: 10 + 2 * load + rnd(), y: 5 - load + rnd() } });
    }
  }
  return out;
}

async function run(
  format: 'json' | 'avro' | 'protobuf',
  raws: Array<string | Uint8Array>,
  lookup?: SchemaRegistryClient,
): Promise<{ scores: Map<string, number>; rejected: Rejection[]; acked: number; records: number }> {
  const { tf, backend } = await selectTestBackend();
  const cfg = parseConfig({
    windowing: { size: W },
    scoring: { batchSize: 8, maxWaitMs: 0 },
    reading: format === 'json' ? {} : { format, schemaRegistry: { url: 'http://127.0.0.1:8081' } },
  });
  const engine = await createEngine(cfg, {
    mode: 'replay',
    log: createLogger('silent'),
    bundles: [await bundle(tf, backend)],
    now: () => T0,
    ...(lookup ? { schemaRegistry: lookup } : {}),
  });
  let acked = 0;
  const records: SourceRecord[] = raws.map((raw, seq) => ({
    raw,
    origin: { source: 'test', offset: String(seq) },
    arrivedAt: T0,
    seq,
    ack: () => void acked++,
  }));
  const outputs: PipelineOutput[] = [];
  const sink: Sink = { name: 'collect', write: async (o) => void outputs.push(...o), close: async () => {} };
  await engine.run(from(records), [sink]);
  const scores = new Map<string, number>();
  const rejected: Rejection[] = [];
  for (const o of outputs) {
    if (o.kind === 'scored' && o.window) scores.set(o.window.window.id, o.window.score);
    if (o.kind === 'rejected') rejected.push(o);
  }
  return { scores, rejected, acked, records: records.length };
}

test('the same stream as Avro and as Protobuf (Confluent wire format) scores as it does in JSON; malformed records are dead-lettered, a registry outage only delays', async () => {
  const sims = stream();
  const json = await run(
    'json',
    sims.map((s) => JSON.stringify(s)),
  );
  assert.ok(json.scores.size > sims.length / 2 - W * 2, `only ${json.scores.size} windows scored`);
  assert.equal(json.rejected.length, 0);

  const good = avroType.toBuffer(sims[0]);
  const bad: Array<[Uint8Array, string]> = [
    [new TextEncoder().encode(JSON.stringify(sims[0])), 'bad_wire_format'],
    [frame(5, good), 'schema_unavailable'],
    [frame(7, good.subarray(0, 4)), 'schema_mismatch'],
  ];
  const cases = [
    ['avro', sims.map((s) => frame(7, avroType.toBuffer(s)))],
    ['protobuf', sims.map((s) => frame(8, ProtoReading.encode(ProtoReading.fromObject(s)).finish(), [1]))],
  ] as const;
  for (const [format, framed] of cases) {
    const raws: Uint8Array[] = [...framed];
    raws.splice(
      60,
      0,
      ...bad.map(([b]) =>
        format === 'protobuf' && b[0] === 0 && b[4] === 7 ? frame(8, new Uint8Array([0xff]), [1]) : b,
      ),
    );
    // The registry is down for the first two lookups: the records wait, none is rejected for it.
    const lookup = registry(2);
    const out = await run(format, raws, lookup);
    assert.equal(out.acked, out.records, `${format}: every record acked`);
    assert.deepEqual(
      out.rejected.map((r) => r.reason).sort(),
      bad.map(([, reason]) => reason).sort(),
      `${format}: ${out.rejected.map((r) => r.detail).join('; ')}`,
    );
    assert.equal(out.scores.size, json.scores.size, `${format}: the same windows scored`);
    for (const [id, s] of json.scores) {
      const got = out.scores.get(id);
      assert.ok(got !== undefined, `${format}: window ${id} not scored`);
      assert.ok(Math.abs(got - s) <= 1e-6 * Math.max(1, Math.abs(s)), `${format} ${id}: ${got} vs ${s}`);
    }
    // Two failed lookups, then one per schema id (7 or 8, and the unknown 5).
    assert.equal(lookup.calls, 4);
  }
});
