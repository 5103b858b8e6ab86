import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { readingSchema } from '../../src/config/schema.js';
import { AemonError } from '../../src/errors.js';
import {
  valuesRecord,
  type FlowControl,
  type Reading,
  type Rejection,
  type SourceRecord,
} from '../../src/pipeline/contracts.js';
import { valueOf } from '../pipeline/fixtures.js';
import { createDecoder, isRejection } from '../../src/sources/decode.js';
import { fileSource, listDataFiles } from '../../src/sources/file.js';
import type { FileSourceOptions } from '../../src/sources/file.js';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/datasets');
const SKAB_FILE = join(DATA, 'skab/valve1/1.csv');
const NAB_FILE = join(DATA, 'nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv');
const cfg = readingSchema.parse({});

const read = (path: string, options: FileSourceOptions = {}): Promise<SourceRecord[]> =>
  lastValueFrom(fileSource(path, options).pipe(toArray()));
const decodeAll = (records: readonly SourceRecord[]): Array<Reading | Rejection> => {
  const decode = createDecoder(cfg, { now: () => Date.UTC(2030, 0, 1) });
  return records.map(decode);
};
function readings(out: ReadonlyArray<Reading | Rejection>): Reading[] {
  return out.map((o) => {
    if (isRejection(o)) assert.fail(`line ${o.origin.line} rejected: ${o.reason}: ${o.detail}`);
    return o;
  });
}
/** Data lines of a file read plainly, for comparison: [1-based line number, cells]. */
function plainRows(path: string, delimiter: string): Array<[number, string[]]> {
  return readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((l, i): [number, string[]] => [i + 1, l.split(delimiter)])
    .filter(([n, cells]) => n > 1 && cells.join('') !== '');
}
function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aemon-src-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const isInputError = (err: unknown): boolean =>
  err instanceof AemonError && err.code === 'AEMON_INPUT_READ' && err.stage === 'source';

test('SKAB valve1/1.csv: one record per row, 8 channels, labels from the anomaly column', async () => {
  const records = await read(SKAB_FILE);
  const rows = plainRows(SKAB_FILE, ';');
  assert.equal(records.length, rows.length);
  assert.equal(records.length, 1145);
  const out = readings(decodeAll(records));
  const channels = [
    'Accelerometer1RMS',
    'Accelerometer2RMS',
    'Current',
    'Pressure',
    'Temperature',
    'Thermocouple',
    'Voltage',
    'Volume Flow RateRMS',
  ];
  let anomalous = 0;
  out.forEach((r, i) => {
    const [line, cells] = rows[i] as [number, string[]];
    assert.equal(r.sensor, '1');
    assert.deepEqual(r.channels, channels);
    assert.equal(valueOf(r, 'Pressure'), Number(cells[4]));
    assert.equal(r.label, Number(cells[9]) === 1 ? 1 : 0);
    assert.deepEqual(r.origin, { source: 'file', file: SKAB_FILE, line });
    assert.equal(r.seq, i);
    anomalous += r.label ?? 0;
  });
  assert.ok(anomalous > 300 && anomalous < records.length, `${anomalous} anomalous rows`);
  assert.equal(out[0]?.ts, Date.UTC(2020, 2, 9, 10, 34, 33));
  assert.ok(!(records[0]?.raw as string).endsWith('\r'), 'CRLF stripped');
});

test('NAB: timestamp,value rows read as UTC with one channel and no label, auto or explicit', async () => {
  const records = await read(NAB_FILE);
  assert.equal(records.length, plainRows(NAB_FILE, ',').length);
  const out = readings(decodeAll(records));
  assert.equal(out[0]?.sensor, 'ec2_cpu_utilization_24ae8d');
  assert.equal(out[0]?.ts, Date.UTC(2014, 1, 14, 14, 30));
  assert.equal(out[1]?.ts, Date.UTC(2014, 1, 14, 14, 35));
  assert.deepEqual(out[0] && valuesRecord(out[0]), { value: 0.132 });
  assert.ok(out.every((r) => r.label === undefined));
  assert.equal((await read(NAB_FILE, { format: 'nab' })).length, records.length);
  await assert.rejects(
    read(NAB_FILE, { format: 'skab' }),
    (err) => isInputError(err) && /SKAB header/.test((err as Error).message),
  );
  await assert.rejects(
    read(SKAB_FILE, { format: 'nab' }),
    (err) => isInputError(err) && /NAB header/.test((err as Error).message),
  );
});

test('a benchmark folder lists its files sorted by relative path, sensor ids without extension', async () => {
  const skab = await listDataFiles(join(DATA, 'skab'));
  assert.equal(skab.length, 21);
  assert.deepEqual(
    skab.slice(0, 4).map((f) => f.sensor),
    ['anomaly-free/anomaly-free', 'valve1/0', 'valve1/1', 'valve1/10'],
  );
  assert.equal(skab.at(-1)?.sensor, 'valve2/3');
  assert.ok(skab.every((f) => f.kind === 'csv'));
  const records = await read(join(DATA, 'skab/valve2'), { format: 'skab' });
  const keys = [...new Set(records.map((r) => r.key))];
  assert.deepEqual(keys, ['0', '1', '2', '3']);
  assert.ok(
    records.every((r, i) => r.seq === i),
    'seq runs on across files',
  );
  const perFile = ['0', '1', '2', '3'].map((k) => plainRows(join(DATA, `skab/valve2/${k}.csv`), ';').length);
  assert.deepEqual(
    keys.map((k) => records.filter((r) => r.key === k).length),
    perFile,
  );
});

test('folder discovery: csv, ndjson and jsonl recursively in relative-path order; other and hidden files skipped', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'a'));
  mkdirSync(join(dir, 'b'));
  mkdirSync(join(dir, '.cache'));
  writeFileSync(join(dir, 'c.csv'), 'time,x\n2020-01-01T00:00:00Z,1\n');
  writeFileSync(
    join(dir, 'b/x.csv'),
    'sensor;datetime;x;label\nS9;2020-01-01 00:00:01;2;1\n;2020-01-01 00:00:02;3;0\n',
  );
  writeFileSync(join(dir, 'a.ndjson'), '{"ts":1,"values":{"x":1}}\n');
  writeFileSync(join(dir, 'a/z.jsonl'), '{"sensor":"named","ts":2,"values":{"x":2}}\n');
  writeFileSync(join(dir, 'notes.txt'), 'not data\n');
  writeFileSync(join(dir, '.cache/old.csv'), 'time,x\n1,1\n');
  const records = await read(dir);
  assert.deepEqual(
    records.map((r) => r.key),
    ['a', 'a/z', 'b/x', 'b/x', 'c'],
  );
  const out = readings(decodeAll(records));
  assert.deepEqual(
    out.map((r) => r.sensor),
    ['a', 'named', 'S9', 'b/x', 'c'],
  );
  assert.deepEqual(
    out.map((r) => r.label),
    [undefined, undefined, 1, 0, undefined],
  );
  assert.deepEqual(
    out.map((r) => r.origin.file),
    ['a.ndjson', 'a/z.jsonl', 'b/x.csv', 'b/x.csv', 'c.csv'].map((f) => join(dir, f)),
  );
  assert.deepEqual(
    records.map((r) => r.fields === undefined),
    [true, true, false, false, false],
  );
  assert.deepEqual(
    (await read(dir, { format: 'ndjson' })).map((r) => r.key),
    ['a', 'a/z'],
  );
  assert.deepEqual(
    (await read(dir, { format: 'csv' })).map((r) => r.key),
    ['b/x', 'b/x', 'c'],
  );
});

test('malformed CSV rows become the right rejections; every good row decodes', async (t) => {
  const file = join(tempDir(t), 'plant.csv');
  const lines = [
    '\uFEFFtimestamp,temp,pres,changepoint',
    '2020-01-01 00:00:00,1.5,2,0',
    '2020-01-01 00:00:01,1.5,2,0,9',
    '2020-01-01 00:00:02,1.5,abc,0',
    '',
    '2020-01-01 00:00:03,,2,0',
    '2020-01-01 00:00:04,NaN,2,0',
    'yesterday,1,2,0',
    '"2020-01-01 00:00:05", -3e2 ,"4",0',
    '   ',
    '2020-01-01 00:00:06,7,8,1',
  ];
  writeFileSync(file, lines.join('\r\n') + '\r\n');
  const records = await read(file);
  assert.deepEqual(
    records.map((r) => r.origin.line),
    [2, 3, 4, 6, 7, 8, 9, 11],
  );
  assert.equal(records[0]?.raw, lines[1]);
  const out = decodeAll(records);
  const summary = out.map((o) =>
    isRejection(o) ? `${o.reason}: ${o.detail}` : `ok ${valueOf(o, 'temp')} ${valueOf(o, 'pres')}`,
  );
  assert.deepEqual(summary, [
    'ok 1.5 2',
    'bad_record: expected 4 columns, got 5',
    'non_finite: values.pres is "abc", not a finite number',
    'missing_channel: missing temp of pres,temp',
    'non_finite: values.temp is NaN',
    'bad_timestamp: ts is "yesterday", not an ISO-8601 date or epoch ms',
    'ok -300 4',
    'ok 7 8',
  ]);
  assert.ok(
    out.every((o) => !('values' in o) || o.channels.join() === 'pres,temp'),
    'changepoint is not a channel',
  );
  const rejected = out.filter(isRejection);
  assert.ok(rejected.every((r) => r.sensor === 'plant' && r.key === 'plant' && r.origin.file === file));
});

test('malformed NDJSON lines become the right rejections; every good line decodes', async (t) => {
  const file = join(tempDir(t), 'pump-1.ndjson');
  const lines = [
    '{"sensor":"p","ts":"2020-01-01T00:00:00Z","values":{"a":1,"b":2}}',
    '{"sensor":"p","ts":',
    '[1,2,3]',
    '',
    '{"sensor":"p","ts":"2020-01-01T00:00:02Z","values":{"a":"1","b":2}}',
    '{"ts":1577836803000,"values":{"a":3,"b":4}}',
    '{"sensor":"p","ts":"2020-01-01T00:00:04Z","values":{"a":1,"b":2,"c":3}}',
    '{"sensor":"p","values":{"a":1,"b":2}}',
  ];
  writeFileSync(file, lines.join('\n'));
  const records = await read(file);
  assert.equal(records.length, 7);
  assert.ok(records.every((r) => r.fields === undefined && r.key === 'pump-1'));
  const out = decodeAll(records);
  assert.deepEqual(
    out.map((o) => (isRejection(o) ? o.reason : `ok ${o.sensor} ${o.ts}`)),
    [
      'ok p 1577836800000',
      'not_json',
      'bad_record',
      'non_finite',
      'ok pump-1 1577836803000',
      'unknown_channel',
      'bad_timestamp',
    ],
  );
  assert.deepEqual(
    out.map((o) => o.origin.line),
    [1, 2, 3, 5, 6, 7, 8],
  );
});

test('a file with another extension is sniffed: JSON lines or CSV', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'log.txt'), '{"sensor":"s","ts":1,"values":{"x":1}}\n');
  writeFileSync(join(dir, 'table.dat'), 'ts;x\n5;1\n');
  assert.equal((await read(join(dir, 'log.txt')))[0]?.fields, undefined);
  assert.deepEqual((await read(join(dir, 'table.dat')))[0]?.fields, { ts: '5', values: { x: 1 } });
});

test('missing paths, folders without data files and unreadable headers fail with AEMON_INPUT_READ', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    read(join(dir, 'nope')),
    (err) => isInputError(err) && /nope: no such file or folder/.test((err as Error).message),
  );
  writeFileSync(join(dir, 'readme.md'), '# nothing\n');
  await assert.rejects(
    read(dir),
    (err) => isInputError(err) && /no \.csv, \.ndjson or \.jsonl files under/.test((err as Error).message),
  );
  writeFileSync(join(dir, 'a.csv'), 'time,x\n1,2\n');
  writeFileSync(join(dir, 'b.csv'), 'when,x\n1,2\n');
  let emitted = 0;
  const failure = await new Promise<unknown>((resolve) =>
    fileSource(dir).subscribe({ next: () => emitted++, error: resolve, complete: () => resolve(undefined) }),
  );
  assert.ok(isInputError(failure) && /b\.csv: no time column/.test((failure as Error).message), String(failure));
  assert.equal(emitted, 0, 'headers are checked before the first record');
});

test('flow control is awaited before each record; acks reach onAck once; arrivedAt from the clock', async (t) => {
  const file = join(tempDir(t), 's.ndjson');
  writeFileSync(file, Array.from({ length: 20 }, (_, i) => `{"ts":${i},"values":{"x":${i}}}`).join('\n'));
  let pending = false;
  let calls = 0;
  const flow: FlowControl = {
    ready: () => {
      calls++;
      pending = true;
      return new Promise((resolve) => setImmediate(() => ((pending = false), resolve())));
    },
  };
  let acks = 0;
  let clock = 100;
  const records: SourceRecord[] = [];
  await new Promise<void>((resolve, reject) =>
    fileSource(file, { flow, onAck: () => acks++, now: () => clock++ }).subscribe({
      next: (r) => {
        assert.equal(pending, false, 'emitted while the flow was not ready');
        records.push(r);
      },
      error: reject,
      complete: resolve,
    }),
  );
  assert.equal(records.length, 20);
  assert.equal(calls, 20);
  assert.deepEqual(
    records.map((r) => r.arrivedAt),
    Array.from({ length: 20 }, (_, i) => 100 + i),
  );
  records.forEach((r) => (r.ack(), r.ack()));
  assert.equal(acks, 20);
});

test('unsubscribing stops reading', async (t) => {
  const file = join(tempDir(t), 'long.csv');
  writeFileSync(file, 'ts,x\n' + Array.from({ length: 5000 }, (_, i) => `${i},${i}`).join('\n'));
  let calls = 0;
  const flow: FlowControl = { ready: () => (calls++, undefined) };
  const first = await firstValueFrom(fileSource(file, { flow }).pipe(take(3), toArray()));
  assert.deepEqual(
    first.map((r) => r.origin.line),
    [2, 3, 4],
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(calls, 3);
});
