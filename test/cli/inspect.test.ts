import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aemon } from './run.js';
import { tempDir } from '../tempdir.js';
import type { InspectReport } from '../../src/cli/inspect.js';

const T0 = Date.UTC(2026, 0, 1);

test('inspect --file shows NDJSON records read and line protocol rejected, with the config that reads them', async () => {
  const dir = tempDir('aemon-inspect-');
  const ndjson = join(dir, 'r.ndjson');
  writeFileSync(
    ndjson,
    ['', ...[0, 1, 2].map((i) => JSON.stringify({ sensor: 's1', ts: T0 + i * 1000, values: { a: i, b: 2 * i } }))].join(
      '\n',
    ) + '\n',
  );
  const ok = await aemon(['inspect', '--file', ndjson, '-n', '2', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const rep = JSON.parse(ok.stdout) as InspectReport;
  assert.equal(rep.total, 2);
  assert.equal(rep.read, 2);
  assert.equal(rep.suggestion, undefined);
  assert.deepEqual(
    rep.records.map((r) => r.line),
    [2, 3],
  );
  assert.deepEqual(rep.records[1]!.readings, [
    { sensor: 's1', time: new Date(T0 + 1000).toISOString(), channels: { a: 1, b: 2 } },
  ]);

  const lp = join(dir, 'r.lp');
  writeFileSync(lp, `cpu,host=a usage=1.5 ${T0}000000\ncpu,host=a usage=2 ${T0 + 1000}000000\n`);
  const text = await aemon(['inspect', '--file', lp]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /line 1 {2}cpu,host=a usage=1\.5/);
  assert.match(text.stdout, /→ rejected: not_json/);
  assert.match(text.stdout, /reading\.format json reads 0 of 2 records/);
  assert.match(text.stdout, /Suggestion: reading\.format influx would read 2 of 2/);
  assert.match(
    text.stdout,
    /It reads the first as sensor cpu,host=a, time 2026-01-01T00:00:00\.000Z, channels \{usage: 1\.5\}/,
  );
  const under = await aemon(['inspect', '--file', lp], { env: { AEMON_READING_FORMAT: 'influx' } });
  assert.match(under.stdout, /→ sensor cpu,host=a, time 2026-01-01T00:00:01\.000Z, channels \{usage: 2\}/);
  assert.match(under.stdout, /The current config reads them/);
});

test('inspect without an input, or of a missing or empty file, is one error line', async () => {
  const none = await aemon(['inspect']);
  assert.equal(none.code, 2);
  assert.equal(none.stderr.trim(), 'aemon: AEMON_USAGE: name one input: --kafka-topic <topic> or --file <file>');
  const dir = tempDir('aemon-inspect-');
  const missing = await aemon(['inspect', '--file', join(dir, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^aemon: AEMON_INPUT_READ: cannot read .*nope: ENOENT[^\n]*\n$/);
  writeFileSync(join(dir, 'empty'), '\n\n');
  const empty = await aemon(['inspect', '--file', join(dir, 'empty')]);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /AEMON_INPUT_READ: .*empty holds no records to inspect/);
});
