import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { envOverrides } from '../../src/config/load.js';
import { readingSchema, type ReadingConfig } from '../../src/config/schema.js';
import type { SourceRecord } from '../../src/pipeline/contracts.js';
import {
  configLines,
  epochUnit,
  guessJson,
  readCount,
  suggest,
  viewRecords,
  withOverrides,
} from '../../src/cli/inspect-suggest.js';
import { formatReport, inspectRecords } from '../../src/cli/inspect.js';

const T0 = Date.UTC(2026, 0, 1);
const defaults = (o: Record<string, unknown> = {}): ReadingConfig => readingSchema.parse(o);

function records(lines: string[]): SourceRecord[] {
  return lines.map((raw, seq) => ({
    raw,
    origin: { source: 'file', file: 'x', line: seq + 1 },
    arrivedAt: 0,
    seq,
    ack: () => undefined,
  }));
}

/** The reading config the suggestion's YAML lines and, separately, its env lines give. */
function fromLines(s: { yaml: string[]; env: string[] }): { yaml: ReadingConfig; env: ReadingConfig } {
  const yaml = readingSchema.parse((parseYaml(s.yaml.join('\n')) as { reading: unknown }).reading);
  const env = Object.fromEntries(s.env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { yaml, env: readingSchema.parse((envOverrides(env) as { reading: unknown }).reading) };
}

const influx = [0, 1, 2, 3].map((i) => `pump,site=a,line=2 temp=${70 + i},rpm=${1400 + i}i ${(T0 + i * 1000) * 1e6}`);
const telegraf = [0, 1, 2].map((i) =>
  JSON.stringify({ fields: { temp: 70 + i }, name: 'pump', tags: { site: 'a' }, timestamp: T0 / 1000 + i }),
);
const flat = [0, 1, 2].map((i) =>
  JSON.stringify({ device: `pump-${i % 2}`, time: T0 / 1000 + i, level: 3, data: { temp: 70 + i, rpm: 1400 } }),
);
const narrow = ['temperature', 'rpm', 'temperature', 'rpm'].map((tag, i) =>
  JSON.stringify({ device: 'pump-7', tag, value: 70 + i, ts: T0 + Math.floor(i / 2) * 1000 }),
);

test('line protocol is rejected under json and read by the suggested influx format', () => {
  const recs = records(influx);
  const views = viewRecords(defaults(), recs);
  assert.equal(readCount(views), 0);
  assert.ok(views.every((v) => v.rejections[0]?.reason === 'not_json'));
  const s = suggest(defaults(), recs);
  assert.deepEqual(s?.overrides, { format: 'influx' });
  assert.equal(s.reads, 4);
  assert.deepEqual(s.env, ['AEMON_READING_FORMAT=influx']);
  assert.deepEqual(s.example, {
    sensor: 'pump,line=2,site=a',
    time: new Date(T0).toISOString(),
    channels: { rpm: 1400, temp: 70 },
  });
  const { yaml, env } = fromLines(s);
  assert.equal(yaml.format, 'influx');
  assert.deepEqual(env, yaml);
});

test("Telegraf's JSON serializer is recognised as telegraf-json, seconds and all", () => {
  const s = suggest(defaults(), records(telegraf));
  assert.deepEqual(s?.overrides, { format: 'telegraf-json' });
  assert.equal(s.reads, 3);
  assert.equal(s.example?.time, new Date(T0).toISOString());
});

test('JSON in other fields: sensor, time (unit by magnitude) and the object of channels are guessed', () => {
  const recs = records(flat);
  const s = suggest(defaults(), recs);
  assert.deepEqual(s?.overrides, {
    format: 'json',
    sensorField: 'device',
    timeField: 'time',
    timeUnit: 's',
    valuesField: 'data',
  });
  assert.equal(s.reads, 3);
  assert.match(s.guessed ?? '', /time as the time in s/);
  const { yaml, env } = fromLines(s);
  assert.deepEqual(env, yaml);
  // The guessed config read through the pipeline's decoder gives the records' own values.
  const views = viewRecords(withOverrides(defaults(), s.overrides), recs);
  assert.deepEqual(views[2]!.readings, [
    { sensor: 'pump-0', time: new Date(T0 + 2000).toISOString(), channels: { rpm: 1400, temp: 72 } },
  ]);
});

test('one channel per message is guessed as narrow with its channel list', () => {
  const s = suggest(defaults(), records(narrow));
  assert.equal(s?.overrides.format, 'narrow');
  assert.deepEqual(s.overrides.channels, ['rpm', 'temperature']);
  assert.deepEqual(s.overrides.narrow, { channelField: 'tag', valueField: 'value' });
  assert.equal(s.reads, 4);
  assert.deepEqual(s.example?.channels, { rpm: 71, temperature: 70 });
  const { yaml, env } = fromLines(s);
  assert.equal(yaml.narrow.channelField, 'tag');
  assert.deepEqual(env, yaml);
});

test('records the current config reads get no suggestion; unreadable ones get none either', () => {
  const good = records([0, 1].map((i) => JSON.stringify({ sensor: 's', ts: T0 + i, values: { a: i } })));
  assert.equal(suggest(defaults(), good), undefined);
  assert.equal(suggest(defaults({ format: 'influx' }), records(influx)), undefined);
  assert.equal(suggest(defaults(), records(['hello', 'world {'])), undefined);
  const text = formatReport(inspectRecords(defaults(), records(['hello']), { file: 'x' }));
  assert.match(text, /rejected: not_json/);
  assert.match(text, /No other format/);
});

test('a mixed topic: the report shows each record as read and suggests what reads most', () => {
  const recs = records([influx[0]!, influx[1]!, telegraf[0]!]);
  const rep = inspectRecords(defaults(), recs, { topic: 't' });
  assert.equal(rep.read, 0);
  assert.deepEqual(rep.suggestion?.overrides, { format: 'influx' });
  assert.equal(rep.suggestion.reads, 2);
  const text = formatReport(rep);
  assert.match(text, /line 1 {2}pump,site=a/);
  assert.match(text, /Suggestion: reading.format influx would read 2 of 3/);
});

test('epoch units by magnitude', () => {
  assert.equal(epochUnit(T0 / 1000), 's');
  assert.equal(epochUnit(T0), 'ms');
  assert.equal(epochUnit(T0 * 1000), 'us');
  assert.equal(epochUnit(T0 * 1e6), 'ns');
  assert.equal(epochUnit(42), undefined);
});

test('config lines quote what YAML would misread', () => {
  const s = configLines({ format: 'json', sensorTemplate: '{site}/{device}' });
  assert.deepEqual(fromLines(s).yaml.sensorTemplate, '{site}/{device}');
});

test('the guess never throws and its suggestion always parses as config, whatever the records', () => {
  const doc = fc.dictionary(
    fc.string({ maxLength: 8 }),
    fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.double(),
      fc.integer(),
      fc.constant(T0),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.double()),
    ),
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          doc.map((d) => JSON.stringify(d)),
          fc.string(),
        ),
        { maxLength: 6 },
      ),
      (lines) => {
        const recs = records(lines);
        guessJson(recs);
        const s = suggest(defaults(), recs);
        if (s) {
          assert.ok(s.reads > 0 && s.reads <= lines.length);
          withOverrides(defaults(), s.overrides);
        }
      },
    ),
    { numRuns: 300 },
  );
});
