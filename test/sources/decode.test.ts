import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readingSchema } from '../../src/config/schema.js';
import { valuesRecord, type Reading, type Rejection, type SourceRecord } from '../../src/pipeline/contracts.js';
import { createDecoder, groupKey, isRejection, parseTimestamp } from '../../src/sources/decode.js';

const cfg = readingSchema.parse({});
const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
const ack = (): void => {};
let seq = 0;

function rec(raw: string | Uint8Array, extra: Partial<SourceRecord> = {}): SourceRecord {
  return { raw, origin: { source: 'test', line: seq + 1 }, arrivedAt: NOW - 5, seq: seq++, ack, ...extra };
}
function json(doc: unknown, extra: Partial<SourceRecord> = {}): SourceRecord {
  return rec(JSON.stringify(doc), extra);
}
const decoder = (channelsFor?: (s: string) => readonly string[] | undefined) =>
  createDecoder(cfg, { now: () => NOW, ...(channelsFor ? { channelsFor } : {}) });

function expectReading(out: Reading | Rejection): Reading {
  if (isRejection(out)) assert.fail(`rejected: ${out.reason}: ${out.detail}`);
  return out;
}
function expectRejected(out: Reading | Rejection, reason: Rejection['reason'], detail?: RegExp): Rejection {
  if (!isRejection(out)) assert.fail(`expected ${reason}, got a reading of ${out.sensor}`);
  assert.equal(out.reason, reason, out.detail);
  if (detail) assert.match(out.detail, detail);
  return out;
}

function without<T extends object>(doc: T, key: keyof T): Partial<T> {
  const copy: Partial<T> = { ...doc };
  delete copy[key];
  return copy;
}

const good = { sensor: 'pump-7', ts: '2026-11-27T10:00:00.000Z', values: { temperature: 71.2, pressure: 3.1 } };

test('a good reading decodes with sorted, frozen values and carries the record metadata', () => {
  const myAck = (): void => {};
  const r = json(good, {
    label: 1,
    arrivedAt: 123,
    seq: 77,
    ack: myAck,
    origin: { source: 'kafka', topic: 't', partition: 2, offset: '9' },
  });
  const out = expectReading(decoder()(r));
  assert.equal(out.sensor, 'pump-7');
  assert.equal(out.ts, NOW);
  assert.deepEqual(out.channels, ['pressure', 'temperature']);
  assert.deepEqual([...out.values], [3.1, 71.2]);
  assert.ok(Object.isFrozen(out.channels));
  assert.equal(out.label, 1);
  assert.equal(out.arrivedAt, 123);
  assert.equal(out.seq, 77);
  assert.equal(out.ack, myAck);
  assert.deepEqual(out.origin, { source: 'kafka', topic: 't', partition: 2, offset: '9' });
});

test('raw bytes are read as UTF-8 and parsed; pre-parsed fields are not parsed again', () => {
  const bytes = new TextEncoder().encode(JSON.stringify({ ...good, sensor: 'pümp' }));
  assert.equal(expectReading(decoder()(rec(bytes))).sensor, 'pümp');
  const out = expectReading(decoder()(rec('not json at all', { fields: { sensor: 's', ts: NOW, values: { a: 1 } } })));
  assert.deepEqual(valuesRecord(out), { a: 1 });
});

test('not_json: text that does not parse, with the parser message; invalid UTF-8', () => {
  const out = expectRejected(decoder()(rec('{"sensor": "a", ', { key: 'k' })), 'not_json', /JSON/);
  assert.equal(out.raw, '{"sensor": "a", ');
  assert.equal(out.key, 'k');
  assert.ok(out.detail.length <= 200);
  expectRejected(decoder()(rec(new Uint8Array([0x7b, 0xff, 0x7d]))), 'not_json', /UTF-8/);
  expectRejected(decoder()(rec('')), 'not_json');
});

test('bad_record: JSON that is not an object, values not an object or empty, and a source-flagged record', () => {
  expectRejected(decoder()(rec('[1,2]')), 'bad_record', /got an array/);
  expectRejected(decoder()(rec('42')), 'bad_record', /got a number/);
  expectRejected(decoder()(rec('null')), 'bad_record', /got null/);
  expectRejected(decoder()(json({ ...good, values: [1, 2] })), 'bad_record', /values is an array/);
  expectRejected(decoder()(json({ ...good, values: 5 })), 'bad_record', /values is a number/);
  expectRejected(decoder()(json({ sensor: 'a', ts: NOW })), 'bad_record', /values is missing/);
  expectRejected(decoder()(json({ ...good, values: {} })), 'bad_record', /no channels/);
  const flagged = rec('a,b,c', {
    key: 'valve1/1',
    invalid: { reason: 'bad_record', detail: 'expected 2 columns, got 3' },
  });
  const out = expectRejected(decoder()(flagged), 'bad_record', /^expected 2 columns, got 3$/);
  assert.equal(out.sensor, 'valve1/1');
  assert.equal(out.seq, flagged.seq);
  assert.equal(out.origin, flagged.origin);
});

test('missing_sensor: no sensor field and no key; the key or a numeric id is used otherwise', () => {
  const noSensor = without(good, 'sensor');
  expectRejected(decoder()(json(noSensor)), 'missing_sensor');
  expectRejected(decoder()(json({ ...good, sensor: '' })), 'missing_sensor');
  assert.equal(expectReading(decoder()(json(noSensor, { key: 'from-key' }))).sensor, 'from-key');
  assert.equal(expectReading(decoder()(json({ ...good, sensor: 17 }))).sensor, '17');
  assert.equal(expectReading(decoder()(json(good, { key: 'other' }))).sensor, 'pump-7');
});

test('timestamps: ISO with zone or offset, NAB/SKAB space form as UTC, epoch ms number or string, record timestamp', () => {
  assert.equal(parseTimestamp('2014-02-14 14:30:00'), Date.UTC(2014, 1, 14, 14, 30));
  assert.equal(parseTimestamp('2020-03-09 10:34:33'), Date.UTC(2020, 2, 9, 10, 34, 33));
  assert.equal(parseTimestamp('2026-11-27T10:00:00.5+05:30'), Date.UTC(2026, 10, 27, 4, 30, 0, 500));
  assert.equal(parseTimestamp('2026-11-27T10:00:00-0100'), Date.UTC(2026, 10, 27, 11));
  assert.equal(parseTimestamp('2026-11-27T10:00:00.123456Z'), Date.UTC(2026, 10, 27, 10, 0, 0, 123));
  assert.equal(parseTimestamp('2026-11-27'), Date.UTC(2026, 10, 27));
  assert.equal(parseTimestamp(1_700_000_000_000), 1_700_000_000_000);
  assert.equal(parseTimestamp('1700000000000'), 1_700_000_000_000);
  for (const bad of [
    'yesterday',
    '2014-02-30 00:00:00',
    '2014-13-01',
    '2014-02-14 25:00:00',
    '14/02/2014',
    '',
    'NaN',
    true,
    null,
    {},
  ]) {
    assert.equal(parseTimestamp(bad), undefined, `accepted ${JSON.stringify(bad)}`);
  }
  assert.equal(parseTimestamp(Infinity), undefined);
  // The canonical form has a fast path: it must agree with Date.parse, and leave the rest to the full parse.
  for (let t = Date.UTC(1899, 11, 31, 23, 59, 59, 999), i = 0; i < 2000; i++, t += 86_400_000 * 37 + 3_723_456) {
    const iso = new Date(t).toISOString();
    assert.equal(parseTimestamp(iso), t, iso);
    assert.equal(parseTimestamp(iso.replace(/\.\d{3}Z$/, 'Z')), Math.floor(t / 1000) * 1000, iso);
  }
  assert.equal(parseTimestamp('2016-02-29T12:00:00.000Z'), Date.UTC(2016, 1, 29, 12));
  assert.equal(
    parseTimestamp('0050-01-02T00:00:00.000Z'),
    Date.parse('0050-01-02T00:00:00.000Z'),
    'a year before 100 is not 1950',
  );
  for (const bad of [
    '2015-02-29T12:00:00.000Z',
    '2100-02-29T00:00:00Z',
    '2014-04-31T00:00:00.000Z',
    '2014-00-10T00:00:00.000Z',
    '2014-01-10T24:00:00.000Z',
    '2014-01-10T10:60:00.000Z',
    '2014-01-10T10:00:60Z',
    '2014-01-1xT10:00:00.000Z',
  ]) {
    assert.equal(parseTimestamp(bad), undefined, `accepted ${bad}`);
  }

  const d = decoder();
  assert.equal(expectReading(d(json({ ...good, ts: '2014-02-14 14:30:00' }))).ts, Date.UTC(2014, 1, 14, 14, 30));
  assert.equal(expectReading(d(json({ ...good, ts: NOW - 1000 }))).ts, NOW - 1000);
  const noTs = without(good, 'ts');
  assert.equal(expectReading(d(json(noTs, { timestamp: NOW - 7 }))).ts, NOW - 7);
});

test('bad_timestamp: garbage, a wrong type, or no time at all', () => {
  const d = decoder();
  expectRejected(d(json({ ...good, ts: 'yesterday' })), 'bad_timestamp', /"yesterday"/);
  expectRejected(d(json({ ...good, ts: true })), 'bad_timestamp', /boolean/);
  const noTs = without(good, 'ts');
  const out = expectRejected(d(json(noTs)), 'bad_timestamp', /no ts field/);
  assert.equal(out.sensor, 'pump-7');
});

test('future_timestamp: beyond now + maxFutureMs, the limit itself is accepted', () => {
  const d = decoder();
  expectReading(d(json({ ...good, ts: NOW + cfg.maxFutureMs })));
  expectRejected(d(json({ ...good, ts: NOW + cfg.maxFutureMs + 1 })), 'future_timestamp', /ahead of the clock/);
  const strict = createDecoder({ ...cfg, maxFutureMs: 0 }, { now: () => NOW });
  expectRejected(strict(json({ ...good, ts: new Date(NOW + 1000).toISOString() })), 'future_timestamp');
});

test('non_finite: NaN, Infinity, null, text and numeric strings, naming the channel', () => {
  const d = decoder();
  const fields = (values: Record<string, unknown>): SourceRecord =>
    rec('x', { fields: { sensor: 's', ts: NOW, values } });
  expectRejected(d(fields({ temperature: 1, pressure: NaN })), 'non_finite', /^values\.pressure is NaN$/);
  expectRejected(d(fields({ a: -Infinity })), 'non_finite', /^values\.a is -Infinity$/);
  expectRejected(d(fields({ x: 'abc' })), 'non_finite', /^values\.x is "abc", not a finite number$/);
  expectRejected(
    d(json({ ...good, values: { temperature: null, pressure: 1 } })),
    'non_finite',
    /values\.temperature is null/,
  );
  expectRejected(
    d(json({ ...good, values: { temperature: '71.2', pressure: 1 } })),
    'non_finite',
    /values\.temperature is "71\.2"/,
  );
  expectRejected(d(json({ ...good, values: { temperature: { v: 1 }, pressure: 1 } })), 'non_finite', /an object/);
});

test('custom field names are read from the config', () => {
  const d = createDecoder({ ...cfg, sensorField: 'id', timeField: 'time', valuesField: 'm' }, { now: () => NOW });
  const out = expectReading(d(json({ id: 'x', time: NOW, m: { a: 2 } })));
  assert.equal(out.sensor, 'x');
  expectRejected(d(json({ id: 'x', time: NOW, m: 3 })), 'bad_record', /^m is a number/);
  expectRejected(d(json({ id: 'x', time: NOW, m: { a: 'z' } })), 'non_finite', /^m\.a is/);
  expectRejected(d(json(good)), 'missing_sensor');
});

test('the first valid reading fixes a sensor channel set; a rejected one does not', () => {
  const d = decoder();
  const at = (values: Record<string, unknown>, sensor = 'p'): SourceRecord => json({ sensor, ts: NOW, values });
  expectRejected(d(at({ a: 1, b: 'x', c: 3 })), 'non_finite');
  expectReading(d(at({ b: 2, a: 1 })));
  const missing = expectRejected(d(at({ a: 1 })), 'missing_channel', /missing b of a,b/);
  assert.equal(missing.sensor, 'p');
  expectRejected(d(at({ a: 1, b: 2, z: 3 })), 'unknown_channel', /unknown z, expected a,b/);
  expectRejected(d(at({ a: 1, z: 3 })), 'missing_channel', /missing b.*unknown z/);
  expectReading(d(at({ a: 5, b: 6 })));
  // Another sensor has its own set.
  expectReading(d(at({ q: 1 }, 'other')));
  expectRejected(d(at({ a: 1, b: 2 }, 'other')), 'missing_channel');
});

test('a loaded model fixes the channel set, overriding the first reading', () => {
  const d = decoder((sensor) => (sensor === 'm' ? ['x', 'y'] : undefined));
  expectRejected(d(json({ sensor: 'm', ts: NOW, values: { x: 1 } })), 'missing_channel', /missing y/);
  expectRejected(d(json({ sensor: 'm', ts: NOW, values: { x: 1, y: 2, w: 0 } })), 'unknown_channel', /unknown w/);
  assert.deepEqual(expectReading(d(json({ sensor: 'm', ts: NOW, values: { y: 2, x: 1 } }))).channels, ['x', 'y']);
  expectReading(d(json({ sensor: 'free', ts: NOW, values: { w: 0 } })));
});

test('groupKey sorts channel names and joins them with commas', () => {
  assert.equal(groupKey(['temperature', 'pressure', 'current']), 'current,pressure,temperature');
  assert.equal(groupKey(['b']), 'b');
  const input = ['b', 'a'];
  groupKey(input);
  assert.deepEqual(input, ['b', 'a'], 'input left unsorted');
});
