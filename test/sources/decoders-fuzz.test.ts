import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readingSchema, type ReadingConfig } from '../../src/config/schema.js';
import { REJECT_REASONS, type Decoded, type SourceRecord } from '../../src/pipeline/contracts.js';
import { isRejection } from '../../src/sources/decode.js';
import { createRecordDecoder } from '../../src/sources/decoders/select.js';

const NOW = Date.UTC(2026, 10, 27, 10, 0, 0);
const RUNS = Number(process.env.AEMON_FUZZ_RUNS ?? 1500);
const ODD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''];

const FORMATS: Record<string, Record<string, unknown>> = {
  json: {},
  'json (paths, template, arrays, allow-list, auto time)': {
    arrays: true,
    sensorTemplate: '{site}/{device}',
    valuesField: 'values.motor',
    timeUnit: 'auto',
    channels: ['a', 'b', '__proto__'],
  },
  'telegraf-json': { format: 'telegraf-json' },
  influx: { format: 'influx' },
  'influx (template, allow-list)': {
    format: 'influx',
    sensorTemplate: '{measurement}/{tags.constructor}',
    channels: ['a', 'constructor'],
  },
  narrow: { format: 'narrow', channels: ['a', '__proto__'], narrow: { toleranceMs: 10, waitMs: 100 } },
};

const oddKey = fc.constantFrom(
  ...ODD_KEYS,
  'a',
  'b',
  'sensor',
  'ts',
  'values',
  'fields',
  'tags',
  'name',
  'timestamp',
  'channel',
  'value',
  'metrics',
);
const leaf = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 5e-324, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1.7e18, -0),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const oddDoc = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('object'), fc.array(tie('value'), { maxLength: 3 })),
  object: fc.dictionary(oddKey, tie('value'), { maxKeys: 6 }),
})).value;

/** Near-valid documents of every format, with any field swapped for odd values. */
const nearValid = fc.record({
  sensor: fc.oneof(fc.constantFrom('s1', 's2'), leaf),
  device: fc.oneof(fc.constant('d'), leaf),
  site: fc.constant('x'),
  ts: fc.oneof(
    fc.integer({ min: NOW - 10_000, max: NOW }),
    fc.integer({ min: NOW - 10_000, max: NOW }).map((t) => t / 1000),
    leaf,
  ),
  values: fc.oneof(
    fc.dictionary(oddKey, leaf, { maxKeys: 4 }),
    fc.record({ motor: fc.dictionary(oddKey, leaf, { maxKeys: 4 }) }),
    leaf,
  ),
  name: fc.oneof(fc.constant('cpu'), leaf),
  tags: fc.oneof(fc.dictionary(oddKey, fc.oneof(fc.string(), leaf), { maxKeys: 3 }), leaf),
  fields: fc.oneof(fc.dictionary(oddKey, leaf, { maxKeys: 4 }), leaf),
  timestamp: fc.oneof(fc.integer({ min: (NOW - 10_000) / 1000, max: NOW / 1000 }), leaf),
  channel: fc.oneof(fc.constantFrom('a', 'b', 'constructor', '__proto__'), leaf),
  value: leaf,
});

/** One-channel messages of a few sensors and times, so joins complete, time out and collide. */
const narrowMessage = fc
  .record({
    sensor: fc.constantFrom('s1', 's1', 's2'),
    ts: fc.integer({ min: 0, max: 4 }).map((d) => NOW - 5000 + d * 5),
    channel: fc.constantFrom('a', '__proto__', 'b'),
    value: fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), leaf),
  })
  .map((m) => JSON.stringify(m));

const lineProtocol = fc
  .array(
    fc
      .tuple(
        fc.constantFrom('cpu', 'm\\,x', '#c', '', 'a b'),
        fc.array(fc.tuple(fc.oneof(fc.constant('constructor'), oddKey), fc.constantFrom('v', 'a\\ b', '', '=')), {
          maxLength: 3,
        }),
        // The fields: often one the allow-list names.
        fc.array(
          fc.tuple(
            fc.oneof(fc.constantFrom('a', 'constructor'), oddKey),
            fc.constantFrom('1', '1i', '-2u', 'T', 'false', '"s"', '"un', '1e400', 'NaN', 'x'),
          ),
          { maxLength: 3 },
        ),
        fc.option(fc.constantFrom(`${NOW}000000`, '-1', '99999999999999999999999', '1.5', 'x'), { nil: undefined }),
      )
      .map(
        ([m, tags, fields, ts]) =>
          `${m}${tags.map(([k, v]) => `,${k}=${v}`).join('')} ${fields.map(([k, v]) => `${k}=${v}`).join(',')}${ts === undefined ? '' : ` ${ts}`}`,
      ),
    { minLength: 1, maxLength: 4 },
  )
  .map((lines) => lines.join('\n'));

const deep = fc
  .integer({ min: 1, max: 60_000 })
  .chain((n) =>
    fc.constantFrom(
      '['.repeat(n) + ']'.repeat(n),
      '{"a":'.repeat(n) + '1' + '}'.repeat(n),
      `{"values":${'{"x":'.repeat(n)}1${'}'.repeat(n)}}`,
      `[${'['.repeat(n)}${']'.repeat(n)}]`,
    ),
  );
/** Well-formed records of each format with finite, extreme and odd-keyed values: the reading path under fire. */
const finite = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e308, -1e308, 5e-324, -0, 2 ** 53 + 1),
);
const channelValues = fc.dictionary(fc.oneof(fc.constantFrom('a', 'b', 'motor'), oddKey), finite, {
  minKeys: 1,
  maxKeys: 4,
});
const recentTs = fc.integer({ min: NOW - 10_000, max: NOW });
const wellFormed = fc.oneof(
  fc
    .record({ sensor: fc.constantFrom('s1', 's2', '__proto__'), ts: recentTs, values: channelValues })
    .map((d) => JSON.stringify(d)),
  fc
    .record({
      name: fc.constantFrom('cpu', 'constructor'),
      tags: fc.dictionary(oddKey, fc.string({ minLength: 1, maxLength: 5 }), { maxKeys: 3 }),
      fields: channelValues,
      timestamp: recentTs.map((t) => Math.floor(t / 1000)),
    })
    .map((d) => JSON.stringify(d)),
  fc
    .record({
      site: fc.constant('x'),
      device: fc.constantFrom('d', '__proto__'),
      ts: recentTs,
      values: fc.record({ motor: channelValues }),
    })
    .map((d) => JSON.stringify(d)),
  fc
    .tuple(fc.constantFrom('cpu', 'motor'), fc.constantFrom('a', 'b', 'constructor'), finite, recentTs)
    .map(([m, k, v, t]) => `${m},site=x,constructor=v ${k}=${v} ${t}000000`),
);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bom = (s: string): Uint8Array => new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(s)]);
const input: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.json().map(String),
  oddDoc.map((d) => JSON.stringify(d) ?? 'null'),
  nearValid.map((d) => JSON.stringify(d)),
  fc.array(nearValid, { maxLength: 3 }).map((d) => JSON.stringify(d)),
  fc.array(nearValid, { maxLength: 3 }).map((metrics) => JSON.stringify({ metrics })),
  nearValid.map((d) => bom(JSON.stringify(d))),
  nearValid.map((d) => {
    const b = utf8(JSON.stringify(d));
    return new Uint8Array([...b.subarray(0, 5), 0xff, 0xc3, ...b.subarray(5)]);
  }),
  lineProtocol,
  // Near-valid lines, so the property sees readings as well as rejections.
  fc
    .tuple(
      fc.constantFrom('cpu', 'disk'),
      fc.constantFrom('', ',constructor=v', ',constructor=v,site=x'),
      fc.constantFrom('a', 'constructor', 'b'),
      leaf,
    )
    .map(([m, t, k, v]) => `${m}${t} ${k}=${typeof v === 'number' ? v : JSON.stringify(v)}`),
  narrowMessage,
  narrowMessage,
  narrowMessage,
  narrowMessage,
  wellFormed,
  wellFormed,
  wellFormed,
  lineProtocol.map(utf8),
  lineProtocol.map(bom),
  fc.constantFrom(
    '{"sensor":"s","ts":1e400,"values":{"a":1e400}}',
    '{"__proto__":{"sensor":"x"},"constructor":1}',
    '\ud800',
    '\ufeff',
    '',
    ' ',
    'null',
    '123456789012345678901234567890',
  ),
  deep,
);

function checkShape(o: Decoded): void {
  if (isRejection(o)) {
    assert.ok((REJECT_REASONS as readonly string[]).includes(o.reason), o.reason);
    assert.equal(typeof o.detail, 'string');
    return;
  }
  assert.equal(typeof o.sensor, 'string');
  assert.ok(o.sensor.trim() !== '');
  assert.ok(Number.isFinite(o.ts));
  assert.ok(o.channels.length > 0 && o.channels.length === o.values.length);
  for (const v of o.values) assert.ok(Number.isFinite(v));
  assert.deepEqual([...o.channels], [...o.channels].sort());
}

for (const [label, input$] of Object.entries(FORMATS)) {
  test(`${label}: any bytes, JSON, deep nesting, huge numbers, odd keys, invalid UTF-8 or a BOM → readings or rejections, every record acked exactly once (${RUNS} runs)`, (t) => {
    let records = 0;
    let outputs = 0;
    let read = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(input, fc.option(fc.constantFrom('key', ' ', '__proto__'), { nil: undefined })), {
          minLength: 1,
          maxLength: 8,
        }),
        (batch) => {
          const cfg = readingSchema.parse(input$) as ReadingConfig;
          const d = createRecordDecoder(cfg, { now: () => NOW });
          const acks: number[] = batch.map(() => 0);
          const recs: SourceRecord[] = batch.map(([raw, key], i) => ({
            raw,
            ...(key === undefined ? {} : { key }),
            timestamp: NOW - 1000,
            origin: { source: 'fuzz' },
            arrivedAt: NOW,
            seq: i,
            ack: () => acks[i]!++,
          }));
          const out = [...d.decodeMany(recs), ...d.flush()];
          records += recs.length;
          outputs += out.length;
          for (const o of out) {
            checkShape(o);
            if (!isRejection(o)) read++;
            o.ack();
          }
          assert.deepEqual(
            acks,
            batch.map(() => 1),
          );
        },
      ),
      { numRuns: RUNS },
    );
    t.diagnostic(`${RUNS} runs, ${records} records, ${outputs} outputs, ${read} readings`);
    assert.ok(read > 0, 'the generators never made a valid reading: the property tested only rejections');
  });
}
