import { test } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import assert from 'node:assert/strict';
import avro from 'avsc';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { readingSchema } from '../../src/config/schema.js';
import {
  REJECT_REASONS,
  type Decoded,
  type Reading,
  type Rejection,
  type SourceRecord,
} from '../../src/pipeline/contracts.js';
import { createRecordDecoder } from '../../src/sources/decoders/select.js';
import {
  createRegistryClient,
  RegistryError,
  type RegistrySchema,
  type SchemaRegistryClient,
} from '../../src/sources/decoders/registry.js';
import { frame, messageIndexes, unframe } from '../../src/sources/decoders/wire.js';

const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
const RUNS = Number(process.env.AEMON_FUZZ_RUNS ?? 1000);
// A fixed seed keeps a run reproducible; AEMON_FUZZ_SEED explores others.
const SEED = Number(process.env.AEMON_FUZZ_SEED ?? 20261202);

const AVRO_SCHEMA = {
  type: 'record',
  name: 'Reading',
  namespace: 'plant',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'ts', type: 'long' },
    { name: 'values', type: { type: 'map', values: 'double' } },
    { name: 'site', type: ['null', 'string'], default: null },
  ],
};
const PROTO = `syntax = "proto3";
package plant;
message Other { string x = 1; }
message Reading {
  string sensor = 1;
  int64 ts = 2;
  map<string, double> values = 3;
  message Motor { double temp = 1; double rpm = 2; }
  Motor motor = 4;
}`;
const JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['sensor', 'ts', 'values'],
  properties: {
    sensor: { type: 'string' },
    ts: { type: 'integer' },
    values: { type: 'object', additionalProperties: { type: 'number' } },
  },
};

/** Schemas by id, as a registry holds them; ids not here answer "not found". */
function schemas(): Map<number, RegistrySchema> {
  return new Map<number, RegistrySchema>([
    [1, { type: 'AVRO', text: JSON.stringify(AVRO_SCHEMA), references: 0 }],
    [2, { type: 'PROTOBUF', text: PROTO, references: 0 }],
    [3, { type: 'JSON', text: JSON.stringify(JSON_SCHEMA), references: 0 }],
    [4, { type: 'AVRO', text: '{"type": "record", "name": "broken", "fields": [{"name": "x"}]}', references: 0 }],
  ]);
}

/** The registry's answers: found, not found (permanent), or down `downFor` times first. */
function lookup(downFor = 0): SchemaRegistryClient & { calls: number } {
  const byId = schemas();
  const client = {
    calls: 0,
    schema(id: number): Promise<RegistrySchema> {
      client.calls++;
      if (client.calls <= downFor) return Promise.reject(new RegistryError('connect ECONNREFUSED', false));
      const s = byId.get(id);
      return s ? Promise.resolve(s) : Promise.reject(new RegistryError(`schema id ${id} is not in the registry`, true));
    },
  };
  return client;
}

const avroType = avro.Type.forSchema(AVRO_SCHEMA as avro.Schema);
const protoRoot = protobuf.parse(PROTO, { keepCase: true }).root;
const ProtoReading = protoRoot.lookupType('plant.Reading');
const ProtoMotor = protoRoot.lookupType('plant.Reading.Motor');
const TS = NOW - 60_000;

let seq = 0;
function rec(raw: Uint8Array, key?: string): SourceRecord {
  return { raw, key, origin: { source: 'test' }, arrivedAt: NOW, seq: seq++, ack: () => {} };
}

function decoder(format: 'avro' | 'protobuf' | 'json-schema', extra: Record<string, unknown> = {}, client = lookup()) {
  const cfg = readingSchema.parse({ format, schemaRegistry: { url: 'http://127.0.0.1:1' }, ...extra });
  return createRecordDecoder(cfg, { now: () => NOW, registry: client, sleep: () => Promise.resolve() });
}

/** Prepares (fetches the schema), then decodes, as the runner does. */
async function decodeOne(d: ReturnType<typeof decoder>, r: SourceRecord): Promise<Decoded[]> {
  await d.prepare?.(r);
  assert.equal(d.prepare?.(r), undefined, 'the schema is cached after one fetch');
  const out = d.decode(r);
  return Array.isArray(out) ? [...(out as Decoded[])] : [out as Decoded];
}

const asReading = (d: Decoded[]): Reading => {
  assert.equal(d.length, 1);
  assert.ok(!('reason' in d[0]!), `rejected: ${JSON.stringify(d[0])}`);
  return d[0] as Reading;
};
const asRejection = (d: Decoded[]): Rejection => {
  assert.equal(d.length, 1);
  assert.ok('reason' in d[0]!, `not rejected: ${JSON.stringify(d[0])}`);
  return d[0] as Rejection;
};

test('the wire format: header and Protobuf message indexes round-trip through frame/unframe', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 0xffffffff }),
      fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 8 }),
      (id, ix) => {
        const framed = frame(id, new Uint8Array([7, 8]), ix);
        const h = unframe(framed);
        assert.ok(!('error' in h));
        assert.equal(h.schemaId, id);
        const m = messageIndexes(framed, h.offset);
        assert.ok(!('error' in m));
        assert.deepEqual(m.indexes, ix);
        assert.deepEqual([...framed.subarray(m.offset)], [7, 8]);
      },
    ),
    { numRuns: RUNS },
  );
  assert.deepEqual(unframe(new Uint8Array([1, 0, 0, 0, 1])), { error: 'first byte 1, not the magic byte 0' });
  assert.ok('error' in unframe(new Uint8Array([0, 0, 1])));
  // The count 0 is the short form of [0].
  assert.deepEqual(messageIndexes(new Uint8Array([0]), 0), { indexes: [0], offset: 1 });
});

test('avro: a record encoded by avsc becomes a reading with the json mapping options', async () => {
  const d = decoder('avro', { sensorTemplate: '{site}/{sensor}' });
  const payload = avroType.toBuffer({ sensor: 'pump-7', ts: TS, values: { temp: 71.5, rpm: 1200 }, site: 'north' });
  const r = asReading(await decodeOne(d, rec(frame(1, payload))));
  assert.equal(r.sensor, 'north/pump-7');
  assert.equal(r.ts, TS);
  assert.deepEqual(r.channels, ['rpm', 'temp']);
  assert.deepEqual([...r.values], [1200, 71.5]);
  // The union's null: no site, so the template has no value for it.
  const noSite = avroType.toBuffer({ sensor: 'pump-7', ts: TS, values: { temp: 1, rpm: 2 }, site: null });
  const rej = asRejection(await decodeOne(d, rec(frame(1, noSite))));
  assert.equal(rej.reason, 'missing_sensor');
});

test('avro: wrong framing, unknown ids, unusable schemas, other bytes and bad values are rejected with their reason', async () => {
  const client = lookup();
  const d = decoder('avro', {}, client);
  const good = avroType.toBuffer({ sensor: 's', ts: TS, values: { a: 1 }, site: null });
  // The sensor: the record key until the payload is decoded, then the payload's own.
  const cases: Array<[Uint8Array, string, RegExp, string?]> = [
    [new TextEncoder().encode('{"sensor":"s"}'), 'bad_wire_format', /magic byte/],
    [new Uint8Array([0, 0, 0]), 'bad_wire_format', /5-byte header/],
    [frame(99, good), 'schema_unavailable', /schema id 99 is not in the registry/],
    [frame(4, good), 'schema_unavailable', /schema id 4 cannot be used/],
    [frame(2, good), 'schema_unavailable', /PROTOBUF schema, but reading.format is avro/],
    [frame(1, good.subarray(0, good.length - 3)), 'schema_mismatch', /not Avro/],
    [frame(1, Buffer.concat([good, Buffer.from([1, 2])])), 'schema_mismatch', /not Avro/],
    [
      frame(1, avroType.toBuffer({ sensor: 's', ts: TS, values: { a: Number.NaN }, site: null })),
      'non_finite',
      /NaN/,
      's',
    ],
    [
      frame(1, avroType.toBuffer({ sensor: 's', ts: NOW + 3_600_000, values: { a: 1 }, site: null })),
      'future_timestamp',
      /./,
      's',
    ],
  ];
  for (const [raw, reason, detail, sensor] of cases) {
    const rej = asRejection(await decodeOne(d, rec(raw, 'k')));
    assert.equal(rej.reason, reason, `${rej.detail}`);
    assert.match(rej.detail, detail);
    assert.equal(rej.raw, raw, 'the original bytes go to the dead-letter record');
    assert.equal(rej.sensor, sensor ?? 'k');
  }
  // Found and not-found answers are both kept: one lookup per id.
  assert.equal(client.calls, 4);
});

test('protobuf: messages by index (top level and nested), int64 times, maps and defaults', async () => {
  const d = decoder('protobuf');
  const msg = ProtoReading.encode(ProtoReading.create({ sensor: 'p', ts: TS, values: { a: 0, b: 2.5 } })).finish();
  const r = asReading(await decodeOne(d, rec(frame(2, msg, [1]))));
  assert.equal(r.sensor, 'p');
  assert.equal(r.ts, TS);
  assert.deepEqual([...r.values], [0, 2.5]);

  const nested = decoder('protobuf', { valuesField: 'values', sensorField: 'x' });
  const motor = ProtoMotor.encode(ProtoMotor.create({ temp: 1, rpm: 2 })).finish();
  // [1, 0] is Reading.Motor: it has no sensor field, and the record key names none.
  const rej = asRejection(await decodeOne(nested, rec(frame(2, motor, [1, 0]))));
  assert.equal(rej.reason, 'missing_sensor');

  // [0] (written as the count 0) is `Other`: Protobuf skips the fields it does not know, so the
  // bytes decode, but to no reading.
  const other = asRejection(await decodeOne(d, rec(frame(2, msg, [0]), 'k')));
  assert.equal(other.reason, 'bad_timestamp', other.detail);
  assert.equal(asRejection(await decodeOne(d, rec(frame(2, msg, [5])))).reason, 'schema_mismatch');
  assert.equal(asRejection(await decodeOne(d, rec(Buffer.from([0, 0, 0, 0, 2, 0xff])))).reason, 'bad_wire_format');
});

test('json-schema: the payload is validated against its schema, then mapped', async () => {
  const d = decoder('json-schema', { valuesField: 'values' });
  const enc = (v: unknown): Uint8Array => frame(3, Buffer.from(JSON.stringify(v)));
  const r = asReading(await decodeOne(d, rec(enc({ sensor: 'j', ts: TS, values: { a: 1 } }))));
  assert.equal(r.sensor, 'j');
  const wrong = asRejection(await decodeOne(d, rec(enc({ sensor: 'j', ts: 'yesterday', values: { a: 1 } }))));
  assert.equal(wrong.reason, 'schema_mismatch');
  assert.match(wrong.detail, /\/ts must be integer/);
  assert.equal(asRejection(await decodeOne(d, rec(frame(3, Buffer.from('{nope'))))).reason, 'schema_mismatch');
});

test('a registry that is down is retried with backoff until it answers: no record is rejected for it', async () => {
  const client = lookup(3);
  const delays: number[] = [];
  const cfg = readingSchema.parse({ format: 'avro', schemaRegistry: { url: 'http://127.0.0.1:1', maxBackoffMs: 600 } });
  const d = createRecordDecoder(cfg, {
    now: () => NOW,
    registry: client,
    sleep: () => Promise.resolve(),
    onRegistryRetry: (_err, _attempt, delay) => delays.push(delay),
  });
  const r1 = rec(frame(1, avroType.toBuffer({ sensor: 's', ts: TS, values: { a: 1 }, site: null })));
  const r2 = rec(frame(1, avroType.toBuffer({ sensor: 's', ts: TS + 1000, values: { a: 2 }, site: null })));
  const w1 = d.prepare?.(r1);
  const w2 = d.prepare?.(r2);
  assert.ok(w1 && w2, 'both records wait for the one lookup');
  await Promise.all([w1, w2]);
  assert.deepEqual(delays, [250, 500, 600]);
  assert.equal(client.calls, 4);
  asReading([d.decode(r1) as Decoded]);
  asReading([d.decode(r2) as Decoded]);
});

test('the HTTP client: a registry that cannot be reached is a retriable error; a missing CA file is a config error', async () => {
  // A port that was free a moment ago: nothing listens there, so the connection is refused.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const client = createRegistryClient(
    readingSchema.parse({ schemaRegistry: { url: `http://127.0.0.1:${port}`, timeoutMs: 2000 } }).schemaRegistry,
  );
  await assert.rejects(
    client.schema(1),
    (err: unknown) => err instanceof RegistryError && !err.permanent && /127\.0\.0\.1/.test(err.message),
  );
  assert.throws(
    () =>
      createRegistryClient(
        readingSchema.parse({ schemaRegistry: { url: 'https://127.0.0.1:9', tls: { ca: '/nonexistent/ca.pem' } } })
          .schemaRegistry,
      ),
    /AEMON_CONFIG_READ|reading.schemaRegistry.tls.ca/,
  );
  assert.throws(() => readingSchema.parse({ format: 'protobuf' }), /needs reading.schemaRegistry.url/);
  assert.throws(
    () => readingSchema.parse({ schemaRegistry: { url: 'http://x', username: 'u' } }),
    /both username and password/,
  );
});

const FUZZ: Array<['avro' | 'protobuf' | 'json-schema', number]> = [
  ['avro', 1],
  ['protobuf', 2],
  ['json-schema', 3],
];
for (const [format, id] of FUZZ) {
  test(`${format}: any bytes give a reading or a rejection with a known reason, never an exception`, async () => {
    const d = decoder(format);
    // Framed with a known id (so the payload parser runs), a random id, or not framed at all.
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((p) => frame(id, p)),
      fc.tuple(fc.nat({ max: 8 }), fc.uint8Array({ maxLength: 32 })).map(([i, p]) => frame(i, p)),
      fc.uint8Array({ maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(raw, async (bytes) => {
        const out = await decodeOne(d, rec(bytes));
        for (const o of out) {
          if ('reason' in o) assert.ok((REJECT_REASONS as readonly string[]).includes(o.reason));
          else assert.ok(o.values.every(Number.isFinite));
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
}

test('avro: a map block count far past the record end is rejected at once, not looped over', async () => {
  // sensor "", ts 0, then a map block of 2^40 entries and no bytes for them: avsc alone spins for hours.
  const payload = [0, 0];
  let v = 2 ** 41; // zigzag of 2^40
  while (v >= 128) {
    payload.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  payload.push(v);
  const out = await decodeOne(decoder('avro'), rec(frame(1, Uint8Array.from(payload))));
  assert.equal(out.length, 1);
  assert.ok('reason' in out[0]! && out[0].reason === 'schema_mismatch', JSON.stringify(out[0]));
});
