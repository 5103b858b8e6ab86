import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Point as InfluxPoint } from '@influxdata/influxdb-client';
import { isLineError, parseLines, type FieldValue, type Point } from '../../src/sources/decoders/lineprotocol.js';

const RUNS = 2000;

/** A reference encoder written from InfluxDB's line-protocol reference. */
function escapeName(s: string): string {
  return s.replace(/[, ]/g, (c) => `\\${c}`);
}
function escapeKey(s: string): string {
  return s.replace(/[,= ]/g, (c) => `\\${c}`);
}
type Typed =
  | { kind: 'float'; v: number }
  | { kind: 'int'; v: number }
  | { kind: 'uint'; v: number }
  | { kind: 'bool'; v: boolean; text: string }
  | { kind: 'string'; v: string };
function encodeValue(f: Typed): string {
  switch (f.kind) {
    case 'float':
      return String(f.v);
    case 'int':
      return `${f.v}i`;
    case 'uint':
      return `${f.v}u`;
    case 'bool':
      return f.text;
    case 'string':
      return `"${f.v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  }
}
function encode(p: {
  measurement: string;
  tags: Array<[string, string]>;
  fields: Array<[string, Typed]>;
  timestamp?: string | undefined;
}): string {
  const tags = p.tags.map(([k, v]) => `,${escapeKey(k)}=${escapeKey(v)}`).join('');
  const fields = p.fields.map(([k, v]) => `${escapeKey(k)}=${encodeValue(v)}`).join(',');
  return `${escapeName(p.measurement)}${tags} ${fields}${p.timestamp === undefined ? '' : ` ${p.timestamp}`}`;
}

// Names line protocol can carry: no newline, not ending in a backslash (that would escape the
// separator after it: the format has no way to write one), and a measurement not starting with `#`.
const text = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', ',', '=', ' ', '\\', '"', 'é', '温', '\t', '-', '.', '_'),
  minLength: 1,
  maxLength: 12,
});
const anyUnicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 });
const name = fc
  .oneof(text, anyUnicode)
  .filter((s) => !/[\n\r]/.test(s) && !s.endsWith('\\') && s.trim() === s && s !== '');
const measurement = name.filter((s) => !s.startsWith('#'));
const typed: fc.Arbitrary<Typed> = fc.oneof(
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .map((v) => ({ kind: 'float' as const, v: Object.is(v, -0) ? 0 : v })),
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }).map((v) => ({ kind: 'int' as const, v })),
  fc.integer({ min: 0, max: 2 ** 53 - 1 }).map((v) => ({ kind: 'uint' as const, v })),
  fc
    .constantFrom('t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE')
    .map((t) => ({ kind: 'bool' as const, v: t.toLowerCase().startsWith('t'), text: t })),
  fc
    .string({ unit: fc.constantFrom('a', ' ', ',', '=', '"', '\\', '\n', 'é'), maxLength: 10 })
    .map((v) => ({ kind: 'string' as const, v })),
);
const pointArb = fc.record({
  measurement,
  tags: fc.array(fc.tuple(name, name), { maxLength: 4 }),
  fields: fc.array(fc.tuple(name, typed), { minLength: 1, maxLength: 5 }),
  timestamp: fc.option(fc.bigInt({ min: -(10n ** 19n), max: 10n ** 19n }).map(String), { nil: undefined }),
});

function valueOf(t: Typed): FieldValue {
  return t.v;
}

test(`parse(encode(point)) is the point, ${RUNS} random points with every escape and field type`, () => {
  fc.assert(
    fc.property(pointArb, (p) => {
      const line = encode(p);
      const out = parseLines(line);
      assert.equal(out.length, 1, line);
      const got = out[0]!;
      if (isLineError(got)) assert.fail(`${got.error}: ${line}`);
      assert.equal(got.measurement, p.measurement);
      assert.deepEqual(got.tags, p.tags);
      assert.deepEqual(
        got.fields,
        p.fields.map(([k, v]) => [k, valueOf(v)]),
      );
      assert.equal(got.timestamp, p.timestamp);
    }),
    { numRuns: RUNS },
  );
});

test(`several encoded lines in one text (LF, CRLF, blank lines, comments) parse to the same points in order, ${RUNS / 4} runs`, () => {
  fc.assert(
    fc.property(
      fc.array(pointArb, { minLength: 1, maxLength: 6 }),
      fc.constantFrom('\n', '\r\n', '\n\n', '\n# a comment\n'),
      (ps, sep) => {
        const out = parseLines(ps.map(encode).join(sep) + sep);
        assert.equal(out.length, ps.length);
        out.forEach((got, i) => {
          if (isLineError(got)) assert.fail(got.error);
          assert.equal(got.measurement, ps[i]!.measurement);
          assert.equal(got.fields.length, ps[i]!.fields.length);
        });
      },
    ),
    { numRuns: RUNS / 4 },
  );
});

test(`lines written by InfluxData's own client (@influxdata/influxdb-client Point) parse back, ${RUNS / 2} runs`, () => {
  // Its encoder writes \t \n \r in names as two-character escapes; our names leave them out.
  const plain = name.filter((s) => !/[\t]/.test(s));
  fc.assert(
    fc.property(
      plain.filter((s) => !s.startsWith('#')),
      fc.dictionary(plain, plain, { maxKeys: 3 }),
      fc.dictionary(
        plain,
        fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ({ v })),
          fc.boolean(),
          fc.integer(),
        ),
        { minKeys: 1, maxKeys: 3 },
      ),
      fc.integer({ min: 0, max: 2 ** 50 }),
      (m, tags, fields, ts) => {
        const p = new InfluxPoint(m).timestamp(String(ts));
        for (const [k, v] of Object.entries(tags)) p.tag(k, v);
        for (const [k, v] of Object.entries(fields)) {
          if (typeof v === 'boolean') p.booleanField(k, v);
          else if (typeof v === 'number') p.intField(k, v);
          else p.floatField(k, v.v);
        }
        const line = p.toLineProtocol();
        assert.ok(line !== undefined);
        const [got] = parseLines(line);
        if (got === undefined || isLineError(got)) assert.fail(`${got?.error}: ${line}`);
        assert.equal(got.measurement, m);
        assert.deepEqual(Object.fromEntries(got.tags), { ...tags });
        const want = Object.fromEntries(
          Object.entries(fields).map(([k, f]) => {
            const v = typeof f === 'object' ? f.v : f;
            return [k, Object.is(v, -0) ? 0 : v];
          }),
        );
        assert.deepEqual(Object.fromEntries(got.fields.map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])), want);
        assert.equal(got.timestamp, String(ts));
      },
    ),
    { numRuns: RUNS / 2 },
  );
});

test(`any text parses to points or line errors, never an exception, ${RUNS * 2} runs`, () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({
          unit: fc.constantFrom('m', ',', '=', ' ', '\\', '"', '\n', '\r', '1', 'i', 'u', 't', '#', '.', 'e', '-'),
        }),
        fc.string({ unit: 'binary' }),
      ),
      (s) => {
        for (const p of parseLines(s)) {
          if (isLineError(p)) assert.equal(typeof p.error, 'string');
          else assert.ok(p.measurement !== '' && p.fields.length > 0);
        }
      },
    ),
    { numRuns: RUNS * 2 },
  );
});

test('Telegraf-style lines: every field type, escapes and the optional timestamp', () => {
  const pts = parseLines(
    [
      'cpu,cpu=cpu0,host=a\\ b usage_idle=98.5,usage_user=1e-2,ok=T,n=-12i,c=7u,msg="said \\"hi\\" \\\\ there" 1700000000000000000',
      'weather\\,eu,loc=x\\=y temp=21',
      '  disk,path=/var free=3i   ',
      'bad,tag value=1',
      'm x=1 notatime',
      'm x=yes',
      'm x="unterminated',
    ].join('\n'),
  );
  const [cpu, weather, disk, ...bad] = pts as [Point, Point, Point, ...Array<Point | { error: string }>];
  assert.equal(cpu.measurement, 'cpu');
  assert.deepEqual(cpu.tags, [
    ['cpu', 'cpu0'],
    ['host', 'a b'],
  ]);
  assert.deepEqual(cpu.fields, [
    ['usage_idle', 98.5],
    ['usage_user', 0.01],
    ['ok', true],
    ['n', -12],
    ['c', 7],
    ['msg', 'said "hi" \\ there'],
  ]);
  assert.equal(cpu.timestamp, '1700000000000000000');
  assert.equal(weather.measurement, 'weather,eu');
  assert.deepEqual(weather.tags, [['loc', 'x=y']]);
  assert.equal(weather.timestamp, undefined);
  assert.deepEqual(disk.fields, [['free', 3]]);
  assert.equal(bad.length, 4);
  for (const b of bad) assert.ok(isLineError(b as Point), JSON.stringify(b));
  assert.match((bad[0] as { error: string }).error, /= after tag key "tag"/);
  assert.match((bad[1] as { error: string }).error, /timestamp "notatime" is not an integer/);
  assert.match((bad[2] as { error: string }).error, /field "x" has value "yes"/);
  assert.match((bad[3] as { error: string }).error, /unterminated string/);
});
