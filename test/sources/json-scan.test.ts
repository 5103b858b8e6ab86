import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readingSchema } from '../../src/config/schema.js';
import type { Decoded, SourceRecord } from '../../src/pipeline/contracts.js';
import { JsonReadingScanner } from '../../src/sources/decoders/json-scan.js';
import { createRecordDecoder } from '../../src/sources/decoders/select.js';
import type { DecoderOptions } from '../../src/sources/decoders/validate.js';

const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
const RUNS = Number(process.env.AEMON_FUZZ_RUNS ?? 1500);

const record = (raw: Uint8Array, key?: string): SourceRecord => ({
  raw,
  ...(key === undefined ? {} : { key }),
  origin: { source: 'test' },
  arrivedAt: 0,
  seq: 0,
  ack: () => {},
});

/** What a test compares of an output: every field a reading or rejection carries but the ack. */
function shape(o: Decoded): unknown {
  if ('kind' in o) return { kind: o.kind, reason: o.reason, detail: o.detail, sensor: o.sensor, key: o.key };
  return { sensor: o.sensor, ts: o.ts, channels: [...o.channels], values: Array.from(o.values), key: o.key };
}

/** A JSON number's text in one of the notations producers write, all valid JSON. */
const numberText = (d: number, style: number): string => {
  if (style === 1 && Number.isFinite(d)) return d.toExponential();
  if (style === 2 && Number.isFinite(d) && Math.abs(d) < 1e15) return d.toFixed(4);
  if (style === 3 && Number.isFinite(d)) return d.toPrecision(17).replace('+', '');
  return JSON.stringify(d);
};

const double = fc.oneof(
  fc.double({ noNaN: true }),
  fc.integer(),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((d) => Math.round(d * 1e4) / 1e4),
  fc.constantFrom(-0, 0.1, 1e21, 1e22, 1e23, 2 ** 53 + 2, 2 ** 53, 5e-324, 1.7976931348623157e308, 123456789012345.6),
);

test('the scanner reads every JSON number as JSON.parse does, in every notation', () => {
  const scanner = JsonReadingScanner.for('sensor', 'ts', 'values')!;
  fc.assert(
    fc.property(double, fc.integer({ min: 0, max: 3 }), (d, style) => {
      const text = numberText(d, style);
      const bytes = Buffer.from(`{"sensor":"s","ts":1,"values":{"a":${text}}}`);
      const expected = (JSON.parse(bytes.toString()) as { values: { a: number } }).values.a;
      if (!Number.isFinite(expected)) return assert.equal(scanner.scan(bytes), false);
      assert.equal(scanner.scan(bytes), true, text);
      assert.ok(Object.is(scanner.values[0], expected), `${text}: ${scanner.values[0]} ≠ ${expected}`);
    }),
    { numRuns: RUNS * 4 },
  );
});

test('the scanner reads numbers at the edges of its exact path as JSON.parse does', () => {
  const scanner = JsonReadingScanner.for('sensor', 'ts', 'values')!;
  for (const text of [
    '0.9007199254740991', // mantissa 2^53 - 1: one division
    '0.9007199254740992', // 2^53: read from text
    '0.9007199254740993',
    '9007199254740993',
    '123456789012345678e-22',
    '1e22',
    '1e23',
    '0.0000000000000000000001',
    '-0.0',
    '4.9406564584124654e-324',
    '2.2250738585072011e-308',
    '179769313486231570000000000000000000000e270',
  ]) {
    assert.equal(scanner.scan(Buffer.from(`{"sensor":"s","ts":1,"values":{"a":${text}}}`)), true, text);
    assert.ok(Object.is(scanner.values[0], JSON.parse(text)), text);
  }
});

test('the scanner reads the documented layout and leaves everything else to JSON.parse', () => {
  const scanner = JsonReadingScanner.for('sensor', 'ts', 'values')!;
  const yes = (s: string): boolean => scanner.scan(Buffer.from(s));
  assert.equal(yes('{"sensor":"p-1","ts":"2026-01-02T03:04:05.678Z","values":{"b":2,"a":-1.5e3}}'), true);
  assert.equal(scanner.sensor, 'p-1');
  assert.equal(scanner.ts, Date.UTC(2026, 0, 2, 3, 4, 5, 678));
  assert.equal(scanner.tsIsIso, true);
  assert.deepEqual(scanner.names.slice(0, scanner.count), ['b', 'a']);
  assert.deepEqual(scanner.values.slice(0, scanner.count), [2, -1500]);
  assert.equal(
    yes(' \n{ "values" : {"a":1} , "site":"x", "n":null, "ok":true, "ts":1700000000000 , "sensor":"s" }\r\n'),
    true,
  );
  assert.equal(scanner.ts, 1700000000000);
  assert.equal(scanner.tsIsIso, false);
  for (const other of [
    '{"sensor":"s\\u0031","ts":1,"values":{"a":1}}', // an escape
    '{"sensor":"sé","ts":1,"values":{"a":1}}', // not ASCII
    '{"sensor":"s","ts":1,"values":{"a":1},"meta":{"x":1}}', // nesting in another field
    '{"sensor":"s","sensor":"t","ts":1,"values":{"a":1}}', // a key twice
    '{"sensor":"s","ts":1,"values":{"a":1,"a":2}}', // a channel twice
    '{"sensor":"s","ts":"2026-01-02 03:04:05","values":{"a":1}}', // another time form
    '{"sensor":"s","ts":1,"values":{}}', // no channels
    '{"sensor":" s","ts":1,"values":{"a":1}}', // space the general path trims
    '{"sensor":7,"ts":1,"values":{"a":1}}', // a number as the id
    '{"sensor":"s","values":{"a":1}}', // no time: the record timestamp's case
    '{"sensor":"s","ts":1,"values":{"a":01}}', // not JSON
    '{"sensor":"s","ts":1,"values":{"a":1}} x', // trailing bytes
    '{"sensor":"s","ts":1,"values":{"a":1e999}}', // not finite
  ])
    assert.equal(yes(other), false, other);
});

const sensor = fc.oneof(
  fc.constantFrom('s1', 's2', 'pump 2', ' s1', 's1 ', '', 'é', 'a"b'),
  fc.string({ maxLength: 6 }),
);
const tsValue = fc.oneof(
  fc.date({ min: new Date(1990, 0, 1), max: new Date(2030, 0, 1), noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .date({ min: new Date(1990, 0, 1), max: new Date(2030, 0, 1), noInvalidDate: true })
    .map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
  fc.integer({ min: 0, max: 2 ** 42 }),
  fc.double({ min: 0, max: 2e9, noNaN: true }),
  fc.constantFrom(
    '2026-02-30T00:00:00.000Z',
    '0099-01-01T00:00:00Z',
    '2027-01-01T00:00:00.000Z',
    '1700000000',
    null,
    true,
  ),
  fc.string({ maxLength: 6 }),
);
const channel = fc.constantFrom('a', 'b', 'c', '__proto__', 'constructor', 'x y', 'é', '');
const value = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(double, fc.integer({ min: 0, max: 3 })).map(([d, s]) => numberText(d, s)) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', '"1"', '[1]', '{}', '-', '1.', '.5', '+1', '01', 'NaN') },
);
const extra = fc.tuple(
  fc.constantFrom('site', 'unit', 'n', 'meta'),
  fc.constantFrom('"x"', '1', 'null', 'false', '{"k":1}', '[1,2]', '"a\\"b"'),
);
const space = fc.constantFrom('', '', ' ', '\n', '\t ', '\r\n');

/** A record of the documented layout or near it: shuffled, spaced, with extra fields, missing or repeated ones, a byte changed. */
const text = fc
  .record({
    sensor: fc.option(sensor, { freq: 8 }),
    ts: fc.option(tsValue, { freq: 8 }),
    values: fc.option(fc.array(fc.tuple(channel, value), { maxLength: 4 }), { freq: 10 }),
    extras: fc.array(extra, { maxLength: 2 }),
    order: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
    gaps: fc.array(space, { minLength: 8, maxLength: 8 }),
    corrupt: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { freq: 6 }),
    names: fc.constantFrom<[string, string, string]>(['sensor', 'ts', 'values'], ['id', 'time', 'fields']),
  })
  .map((r) => {
    const [sn, tn, vn] = r.names;
    const g = (i: number): string => r.gaps[i % r.gaps.length]!;
    const fields: string[] = [];
    if (r.sensor !== null) fields.push(`"${sn}":${g(0)}${JSON.stringify(r.sensor)}`);
    if (r.ts !== null) fields.push(`"${tn}":${g(1)}${JSON.stringify(r.ts)}`);
    if (r.values !== null)
      fields.push(`"${vn}":{${r.values.map(([c, v], i) => `${g(i)}${JSON.stringify(c)}${g(i + 1)}:${v}`).join(',')}}`);
    for (const [k, v] of r.extras) fields.push(`"${k}":${v}`);
    const sorted = fields.map((f, i) => [r.order[i] ?? 0, f] as const).sort((a, b) => a[0] - b[0]);
    const bytes = Buffer.from(`${g(2)}{${sorted.map(([, f]) => f).join(`,${g(3)}`)}${g(4)}}${g(5)}`);
    if (r.corrupt !== null && bytes.length > 0) bytes[r.corrupt[0] % bytes.length] = r.corrupt[1];
    return { bytes, names: r.names };
  });

const CHANNELS: Record<string, string[]> = { s1: ['a', 'b'], s2: ['c', 'a', 'b'], s3: ['x y'] };

/** A reading of the documented layout as a collector writes it: its sensor's channels in any order, spaced, perhaps with extra fields. */
const wellFormed = fc
  .record({
    sensor: fc.constantFrom('s1', 's2', 's3'),
    ts: fc.oneof(
      fc.date({ min: new Date(2020, 0, 1), max: new Date(NOW), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.integer({ min: Date.UTC(2020, 0, 1), max: NOW }),
    ),
    values: fc.array(fc.tuple(double, fc.integer({ min: 0, max: 3 })), { minLength: 3, maxLength: 3 }),
    shuffle: fc.nat(),
    extras: fc.array(extra, { maxLength: 2 }),
    gap: space,
    names: fc.constantFrom<[string, string, string]>(['sensor', 'ts', 'values'], ['id', 'time', 'fields']),
  })
  .map((r) => {
    const [sn, tn, vn] = r.names;
    const chans = CHANNELS[r.sensor]!.map((c, i) => `${JSON.stringify(c)}:${r.gap}${numberText(...r.values[i]!)}`);
    const fields = [`"${sn}":"${r.sensor}"`, `"${tn}":${JSON.stringify(r.ts)}`, `"${vn}":{${chans.join(',')}}`];
    fields.push(...r.extras.map(([k, v]) => `"${k}":${v}`));
    const k = r.shuffle % fields.length;
    const order = [...fields.slice(k), ...fields.slice(0, k)];
    return { bytes: Buffer.from(`{${r.gap}${order.join(`,${r.gap}`)}}`), names: r.names };
  });

test('the byte fast path decodes every record exactly as JSON.parse does, reading for reading and rejection for rejection', () => {
  const configs: Array<[Record<string, unknown>, DecoderOptions]> = [
    [{}, {}],
    [{ timeUnit: 's' }, {}],
    [{ timeUnit: 'iso', maxFutureMs: 0 }, {}],
    [{ timeUnit: 'auto' }, { channelsFor: (s) => (s === 's1' ? ['b', 'a'] : undefined) }],
  ];
  // How many records were readings the scanner read: the property is about them.
  let records = 0;
  let scanned = 0;
  const scanners = new Map<string, JsonReadingScanner>();
  fc.assert(
    fc.property(
      fc.constantFrom(...configs.keys()),
      fc.array(fc.oneof({ weight: 3, arbitrary: wellFormed }, { weight: 2, arbitrary: text }), {
        minLength: 1,
        maxLength: 12,
      }),
      fc.option(fc.constantFrom('k1', ' ', ''), { freq: 2 }),
      (which, texts, key) => {
        const [given, options] = configs[which]!;
        const byNames = new Map<
          string,
          [ReturnType<typeof createRecordDecoder>, ReturnType<typeof createRecordDecoder>]
        >();
        for (const { bytes, names } of texts) {
          const id = names.join();
          let pair = byNames.get(id);
          if (!pair) {
            const cfg = readingSchema.parse({
              ...given,
              sensorField: names[0],
              timeField: names[1],
              valuesField: names[2],
            });
            pair = [
              createRecordDecoder(cfg, { ...options, now: () => NOW }),
              createRecordDecoder(cfg, { ...options, now: () => NOW, fastPath: false }),
            ];
            byNames.set(id, pair);
          }
          const rec = record(bytes, key ?? undefined);
          const fast = [pair[0].decode(rec)].flat().map(shape);
          const slow = [pair[1].decode(rec)].flat().map(shape);
          assert.deepStrictEqual(fast, slow, bytes.toString('latin1'));
          let scanner = scanners.get(id);
          if (!scanner) scanners.set(id, (scanner = JsonReadingScanner.for(names[0], names[1], names[2])!));
          records++;
          if (scanner.scan(bytes) && !('kind' in (fast[0] as object))) scanned++;
        }
      },
    ),
    { numRuns: RUNS },
  );
  assert.ok(scanned > records * 0.25, `only ${scanned} of ${records} records were readings read from bytes`);
});

test('with the fast path a known sensor reading takes no JSON.parse: the same readings, and the scanner said yes', () => {
  const cfg = readingSchema.parse({});
  const decoder = createRecordDecoder(cfg, { now: () => NOW });
  const scanner = JsonReadingScanner.for('sensor', 'ts', 'values')!;
  const parse = JSON.parse;
  let parsed = 0;
  JSON.parse = ((s: string) => {
    parsed++;
    return parse(s) as unknown;
  }) as typeof JSON.parse;
  try {
    const rows = Array.from({ length: 50 }, (_, i) =>
      Buffer.from(
        JSON.stringify({
          sensor: 's1',
          ts: new Date(NOW - 1000 * (50 - i)).toISOString(),
          values: { b: i / 3, a: -i - 1 },
        }),
      ),
    );
    const out = rows.map((b) => decoder.decode(record(b)));
    for (const [i, o] of out.entries()) {
      const r = [o].flat()[0]!;
      assert.ok(!('kind' in r));
      assert.deepStrictEqual(Array.from(r.values), [-i - 1, i / 3]);
      assert.equal(scanner.scan(rows[i]!), true);
    }
    // The first reading of a sensor fixes its channels the general way; the rest are read from bytes.
    assert.equal(parsed, 1);
  } finally {
    JSON.parse = parse;
  }
});
