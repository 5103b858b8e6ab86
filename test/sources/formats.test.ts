import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readingSchema, type ReadingConfig } from '../../src/config/schema.js';
import {
  valuesRecord,
  type Decoded,
  type Reading,
  type Rejection,
  type SourceRecord,
} from '../../src/pipeline/contracts.js';
import { isRejection } from '../../src/sources/decode.js';
import { createRecordDecoder } from '../../src/sources/decoders/select.js';

const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
const T = NOW - 60_000;

interface Probe {
  rec: SourceRecord;
  acks: number;
}
let seq = 0;
function probe(raw: string | Uint8Array, extra: Partial<SourceRecord> = {}): Probe {
  const p: Probe = { acks: 0 } as Probe;
  p.rec = { raw, origin: { source: 'test', line: seq + 1 }, arrivedAt: NOW, seq: seq++, ack: () => p.acks++, ...extra };
  return p;
}
function decoder(input: Record<string, unknown>) {
  return createRecordDecoder(readingSchema.parse(input) as ReadingConfig, { now: () => NOW });
}
function all(out: Decoded | readonly Decoded[]): Decoded[] {
  return Array.isArray(out) ? [...(out as readonly Decoded[])] : [out as Decoded];
}
function readings(out: readonly Decoded[]): Reading[] {
  for (const o of out) if (isRejection(o)) assert.fail(`rejected: ${o.reason}: ${o.detail}`);
  return out as Reading[];
}
function rejected(out: readonly Decoded[], reason: Rejection['reason'], detail?: RegExp): Rejection[] {
  const r = out.filter(isRejection);
  assert.ok(r.length > 0, `expected ${reason}, got ${out.length} readings`);
  for (const x of r) {
    assert.equal(x.reason, reason, x.detail);
    if (detail) assert.match(x.detail, detail);
  }
  return r;
}

test('reading.maxBytes: a larger record is rejected too_large before it is parsed; at the limit it is read', () => {
  const d = decoder({ maxBytes: 100 });
  const big = probe('x'.repeat(101));
  const [r] = rejected(
    all(d.decode(big.rec)),
    'too_large',
    /101 bytes, more than reading.maxBytes \(100\); not parsed/,
  );
  assert.equal(r!.raw, big.rec.raw);
  // Multi-byte characters count as their UTF-8 bytes.
  rejected(all(d.decode(probe('é'.repeat(51)).rec)), 'too_large', /102 bytes/);
  rejected(all(d.decode(probe(new Uint8Array(101)).rec)), 'too_large');
  const doc = JSON.stringify({ sensor: 's', ts: T, values: { a: 1 } });
  const ok = probe(doc + ' '.repeat(100 - doc.length));
  assert.equal(readings(all(d.decode(ok.rec)))[0]!.sensor, 's');
  assert.equal(readingSchema.parse({}).maxBytes, 262_144);
});

test('json: dotted paths, a sensor template, a time unit and a channel allow-list', () => {
  const d = decoder({
    sensorTemplate: '{site}/{meta.line}/{device}',
    timeField: 'meta.t',
    timeUnit: 's',
    valuesField: 'values.motor',
    channels: ['temp', 'rpm'],
  });
  const doc = {
    site: 'lyon',
    device: 'pump-7',
    meta: { line: 3, t: T / 1000 },
    values: { motor: { temp: 71.5, rpm: 1450, status: 'ok' } },
  };
  const [r] = readings(all(d.decode(probe(JSON.stringify(doc)).rec)));
  assert.equal(r!.sensor, 'lyon/3/pump-7');
  assert.equal(r!.ts, T);
  assert.deepEqual(valuesRecord(r!), { rpm: 1450, temp: 71.5 });
  rejected(
    all(d.decode(probe(JSON.stringify({ ...doc, device: undefined })).rec)),
    'missing_sensor',
    /no device field for the sensor template/,
  );
  rejected(
    all(d.decode(probe(JSON.stringify({ ...doc, values: { motor: { temp: 'hot', rpm: 1 } } })).rec)),
    'non_finite',
    /motor\.temp is "hot"/,
  );
  // A key with a dot in it is still read as that key first, as before paths existed.
  const flat = decoder({ valuesField: 'v.x' });
  assert.deepEqual(
    valuesRecord(readings(all(flat.decode(probe(JSON.stringify({ sensor: 's', ts: T, 'v.x': { a: 1 } })).rec)))[0]!),
    { a: 1 },
  );
});

test('json time units: s, ms, us, ns, iso and auto read the same instant; iso refuses numbers', () => {
  const at = (unit: string, ts: unknown): Decoded =>
    all(decoder({ timeUnit: unit }).decode(probe(JSON.stringify({ sensor: 's', ts, values: { a: 1 } })).rec))[0]!;
  const iso = new Date(T).toISOString();
  for (const [unit, ts] of [
    ['s', T / 1000],
    ['ms', T],
    ['us', T * 1000],
    ['ns', `${T}000000`],
    ['iso', iso],
    ['s', iso],
    ['auto', T / 1000],
    ['auto', T],
    ['auto', T * 1000],
    ['auto', T * 1e6],
  ] as const) {
    const r = at(unit, ts);
    if (isRejection(r)) assert.fail(`${unit} ${ts}: ${r.detail}`);
    assert.equal(r.ts, T, `${unit} ${ts}`);
  }
  const bad = at('iso', T);
  assert.ok(
    isRejection(bad) && bad.reason === 'bad_timestamp' && /not an ISO-8601 date$/.test(bad.detail),
    JSON.stringify(bad),
  );
});

test('json arrays: one message of several readings; the record is acked once, after the last of them', () => {
  const d = decoder({ arrays: true });
  const p = probe(
    JSON.stringify([
      { sensor: 'a', ts: T, values: { x: 1 } },
      { sensor: 'b', ts: T, values: { x: 'bad' } },
      { sensor: 'c', ts: T, values: { x: 3 } },
    ]),
  );
  const out = all(d.decode(p.rec));
  assert.deepEqual(
    out.map((o) => (isRejection(o) ? o.reason : o.sensor)),
    ['a', 'non_finite', 'c'],
  );
  assert.equal(
    (out[1] as Rejection).raw,
    JSON.stringify({ sensor: 'b', ts: T, values: { x: 'bad' } }),
    'the DLQ gets the bad element, not the whole message',
  );
  out[0]!.ack();
  out[2]!.ack();
  assert.equal(p.acks, 0);
  out[1]!.ack();
  out[1]!.ack();
  assert.equal(p.acks, 1);
  // Without reading.arrays an array is a bad record, as before.
  rejected(all(decoder({}).decode(probe('[]').rec)), 'bad_record', /got an array/);
  rejected(all(d.decode(probe('[]').rec)), 'bad_record', /empty array/);
});

test('telegraf-json: sensor id name,k=v in tag-key order (the name alone without tags), seconds, booleans as 0/1, strings left out', () => {
  const d = decoder({ format: 'telegraf-json' });
  const m = {
    fields: { usage_idle: 98.5, up: true, note: 'fine' },
    name: 'cpu',
    tags: { host: 'a', cpu: 'cpu0' },
    timestamp: T / 1000,
  };
  const [r] = readings(all(d.decode(probe(JSON.stringify(m)).rec)));
  assert.equal(r!.sensor, 'cpu,cpu=cpu0,host=a');
  assert.equal(r!.ts, T);
  assert.deepEqual(valuesRecord(r!), { up: 1, usage_idle: 98.5 });
  assert.equal(readings(all(d.decode(probe(JSON.stringify({ ...m, tags: {} })).rec)))[0]!.sensor, 'cpu');
  const batch = all(
    d.decode(probe(JSON.stringify({ metrics: [m, { ...m, fields: 'x' }, { ...m, tags: { host: 'b' } }] })).rec),
  );
  assert.deepEqual(
    batch.map((o) => (isRejection(o) ? o.reason : o.sensor)),
    ['cpu,cpu=cpu0,host=a', 'bad_record', 'cpu,host=b'],
  );
  const tmpl = decoder({ format: 'telegraf-json', sensorTemplate: '{tags.host}/{name}', channels: ['usage_idle'] });
  const [t] = readings(all(tmpl.decode(probe(JSON.stringify(m)).rec)));
  assert.equal(t!.sensor, 'a/cpu');
  assert.deepEqual(valuesRecord(t!), { usage_idle: 98.5 });
  rejected(
    all(d.decode(probe('{"name":"cpu","fields":{"note":"x"},"timestamp":1}').rec)),
    'bad_record',
    /fields has no channels/,
  );
});

test('influx: several lines per message, ns timestamps by default, a bad line dead-lettered alone with its own text', () => {
  const d = decoder({ format: 'influx' });
  const text = [
    `pump,site=lyon,device=p7 temp=71.5,rpm=1450i,on=T ${T}000000`,
    'pump,site=lyon temp=oops',
    `pump temp=70 ${T}000000`,
  ].join('\n');
  const p = probe(text);
  const out = all(d.decode(p.rec));
  assert.deepEqual(
    out.map((o) => (isRejection(o) ? `${o.reason}: ${o.raw}` : `${o.sensor} ${o.ts}`)),
    [`pump,device=p7,site=lyon ${T}`, 'bad_record: pump,site=lyon temp=oops', `pump ${T}`],
  );
  assert.deepEqual(valuesRecord(out[0] as Reading), { on: 1, rpm: 1450, temp: 71.5 });
  for (const o of out) o.ack();
  assert.equal(p.acks, 1);
  // No timestamp on the line: the Kafka record timestamp.
  const [k] = readings(all(d.decode(probe('pump temp=1', { timestamp: T }).rec)));
  assert.equal(k!.ts, T);
  const ms = decoder({ format: 'influx', timeUnit: 'ms', sensorTemplate: '{site}/{device}' });
  assert.equal(readings(all(ms.decode(probe(`pump,site=lyon,device=p7 temp=1 ${T}`).rec)))[0]!.sensor, 'lyon/p7');
  rejected(all(d.decode(probe('\n# only a comment\n').rec)), 'bad_record', /no line-protocol lines/);
});

test("narrow: a sensor's channels join into one reading by event time; its records are acked only with it", () => {
  const d = decoder({ format: 'narrow', channels: ['temp', 'pres'], narrow: { toleranceMs: 50, waitMs: 1000 } });
  const msg = (sensor: string, channel: string, value: unknown, ts: number): Probe =>
    probe(JSON.stringify({ sensor, ts, channel, value }));
  const a = msg('p7', 'temp', 71.5, T);
  const b = msg('p8', 'temp', 60, T);
  const c = msg('p7', 'pres', 3.1, T + 20);
  assert.deepEqual(all(d.decode(a.rec)), []);
  assert.deepEqual(all(d.decode(b.rec)), []);
  const [r] = readings(all(d.decode(c.rec)));
  assert.equal(r!.sensor, 'p7');
  assert.equal(r!.ts, T);
  assert.deepEqual(valuesRecord(r!), { pres: 3.1, temp: 71.5 });
  assert.equal(r!.raw, `${a.rec.raw}\n${c.rec.raw}`);
  assert.equal(a.acks + c.acks, 0);
  r!.ack();
  assert.deepEqual([a.acks, c.acks, b.acks], [1, 1, 0]);
  rejected(all(d.decode(msg('p7', 'flow', 1, T).rec)), 'unknown_channel', /unknown flow, expected pres,temp/);
  rejected(all(d.decode(msg('p7', 'temp', 'hot', T).rec)), 'non_finite', /value of temp is "hot"/);
  // p8 never gets its pressure: once event time is past T + waitMs its record is dead-lettered.
  const late = all(d.decode(msg('p9', 'temp', 1, T + 1001).rec));
  const [inc] = rejected(late, 'incomplete', /no pres of pres,temp for .* within narrow.waitMs \(1000 ms/);
  assert.equal(inc!.raw, b.rec.raw);
  assert.equal(inc!.sensor, 'p8');
  inc!.ack();
  assert.equal(b.acks, 1);
  // The end of the input: what is still held is incomplete too, each record once.
  const held = d.flush();
  assert.equal(held.length, 1);
  rejected(held, 'incomplete');
});

test('narrow: a channel read twice at the same time is a duplicate; a record with no sensor, channel or time is rejected alone', () => {
  const d = decoder({
    format: 'narrow',
    channels: ['a', 'b'],
    narrow: { channelField: 'tag', valueField: 'v' },
    sensorField: 'device',
  });
  const m = (o: object): SourceRecord => probe(JSON.stringify(o)).rec;
  assert.deepEqual(all(d.decode(m({ device: 'd', ts: T, tag: 'a', v: 1 }))), []);
  rejected(all(d.decode(m({ device: 'd', ts: T, tag: 'a', v: 2 }))), 'duplicate');
  rejected(all(d.decode(m({ ts: T, tag: 'a', v: 2 }))), 'missing_sensor');
  rejected(all(d.decode(m({ device: 'd', ts: T, v: 2 }))), 'bad_record', /tag is missing/);
  rejected(all(d.decode(m({ device: 'd', ts: 'soon', tag: 'b', v: 2 }))), 'bad_timestamp');
  const [r] = readings(all(d.decode(m({ device: 'd', ts: T, tag: 'b', v: 2 }))));
  assert.deepEqual(valuesRecord(r!), { a: 1, b: 2 });
  assert.throws(() => readingSchema.parse({ format: 'narrow' }), /narrow needs reading.channels/);
});

test('a message found in the dead-letter topic already: its rejected part is not written again, its readings are scored again', () => {
  const d = decoder({ format: 'influx' });
  const p = probe(`pump temp=1 ${T}000000\npump temp=oops\npump temp=2 ${T + 1000}000000`, {
    replayOnly: true,
    deadLettered: true,
  });
  const out = all(d.decode(p.rec));
  assert.deepEqual(
    out.map((o) => [isRejection(o) ? o.reason : 'reading', o.replayOnly === true]),
    [
      ['reading', false],
      ['bad_record', true],
      ['reading', false],
    ],
  );
  // A one-reading record stays as it was: all of it was written before.
  const one = all(
    decoder({}).decode(
      probe(JSON.stringify({ sensor: 's', ts: T, values: { a: 1 } }), { replayOnly: true, deadLettered: true }).rec,
    ),
  );
  assert.equal(one[0]!.replayOnly, true);
  // A rebuild's records (replayOnly alone) stay replay-only in every part.
  const rebuilt = all(
    d.decode(probe(`pump temp=1 ${T}000000\npump temp=2 ${T + 1000}000000`, { replayOnly: true }).rec),
  );
  assert.deepEqual(
    rebuilt.map((o) => o.replayOnly),
    [true, true],
  );
});

test('narrow: event time moves on per Kafka partition: a partition read far ahead does not time out the joins of another', () => {
  const d = decoder({ format: 'narrow', channels: ['a', 'b'], narrow: { waitMs: 1000 } });
  const at = (partition: number, sensor: string, channel: string, ts: number): SourceRecord =>
    probe(JSON.stringify({ sensor, ts, channel, value: 1 }), {
      origin: { source: 'kafka', topic: 't', partition, offset: '0' },
    }).rec;
  assert.deepEqual(all(d.decode(at(0, 'slow', 'a', T - 3_600_000))), []);
  // Partition 1 is an hour ahead (a backlog read unevenly): partition 0's join still waits.
  assert.equal(readings([...all(d.decode(at(1, 'fast', 'a', T))), ...all(d.decode(at(1, 'fast', 'b', T)))]).length, 1);
  assert.equal(readings(all(d.decode(at(0, 'slow', 'b', T - 3_600_000)))).length, 1);
  // Its own partition moving on does time it out.
  assert.deepEqual(all(d.decode(at(0, 'slow', 'a', T - 3_595_000))), []);
  rejected(all(d.decode(at(0, 'other', 'a', T - 3_593_999))), 'incomplete', /no b of a,b/);
});
