import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryScores, count, emptyConfusion, parseSkab } from '../../src/evaluation/skab.js';
import type { ReplayedRow, ReplayFile } from '../../src/evaluation/replay.js';
import { evaluateSkab } from '../../src/evaluation/skabRun.js';
import { tempDir } from '../tempdir.js';

test('F1, FAR and MAR of a hand-made confusion', () => {
  const predicted = [1, 1, 1, 0, 0, 0, 0, 0];
  const labels = [1, 1, 0, 1, 1, 1, 0, 0];
  const c = emptyConfusion();
  predicted.forEach((p, i) => count(c, p === 1, labels[i] === 1));
  assert.deepEqual(c, { tp: 2, fp: 1, fn: 3, tn: 2 });
  const s = binaryScores(c);
  assert.equal(s.f1, 0.5); // 2·2 / (2·2 + 1 + 3)
  assert.ok(Math.abs(s.far - 100 / 3) < 1e-12); // 1 false alarm of 3 normal rows
  assert.equal(s.mar, 60); // 3 missed of 5 anomalous rows
});

test('flagging every row: FAR 100 %, MAR 0, F1 from the share of anomalous rows', () => {
  const s = binaryScores({ tp: 54, fp: 46, fn: 0, tn: 0 });
  assert.equal(s.far, 100);
  assert.equal(s.mar, 0);
  assert.equal(s.f1, 108 / 154);
  assert.deepEqual(binaryScores(emptyConfusion()), { f1: 0, far: 0, mar: 0 });
});

const HEADER = 'datetime;a;b;anomaly;changepoint';

function skabFile(rows: number, anomalous: (i: number) => boolean): string {
  const t0 = Date.UTC(2020, 2, 9, 10);
  const lines = [HEADER];
  for (let i = 0; i < rows; i++) {
    const ts = new Date(t0 + i * 1000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(`${ts};${i};${2 * i};${anomalous(i) ? '1.0' : '0.0'};0.0`);
  }
  return lines.join('\n') + '\n';
}

test('parseSkab reads the labels by line; a file without an anomaly column is not scorable', () => {
  const rows = parseSkab(skabFile(3, (i) => i === 2));
  assert.ok(Array.isArray(rows));
  assert.deepEqual(
    rows.map((r) => [r.line, r.anomalous]),
    [
      [2, false],
      [3, false],
      [4, true],
    ],
  );
  assert.equal(rows[1]!.ts - rows[0]!.ts, 1000);
  assert.match(String(parseSkab('datetime;a;b\n2020-01-01 00:00:00;1;2\n')), /no anomaly column/);
});

test('evaluateSkab pools the test rows of every file, predicts from the anomaly state, skips unlabelled files', async () => {
  const dir = tempDir('aemon-skab-');
  mkdirSync(join(dir, 'valve'));
  // 410 rows each: 400 train, 10 test; test rows 405..409 are anomalous.
  writeFileSync(
    join(dir, 'valve', 'a.csv'),
    skabFile(410, (i) => i >= 405),
  );
  writeFileSync(
    join(dir, 'valve', 'b.csv'),
    skabFile(410, (i) => i >= 405),
  );
  writeFileSync(join(dir, 'free.csv'), 'datetime;a\n2020-01-01 00:00:00;1\n');
  const seen: Array<{ path: string; settings: unknown }> = [];
  // a: the anomaly state is on for rows 403..409 (2 false alarms, all 5 found); b: never on, but
  // its score passes 1 on row 409. Line of row i is i + 2 (the header is line 1).
  const replay: ReplayFile = async (path, settings) => {
    seen.push({ path, settings });
    const rows: ReplayedRow[] = [];
    const isA = path.endsWith('a.csv');
    for (let i = 0; i < 410; i++) {
      const on = isA && i >= 403;
      rows.push({
        line: i + 2,
        training: i < 400,
        score: i < 400 ? null : !isA && i === 409 ? 2 : on ? 1.5 : 0.5,
        rawScore: i < 400 ? null : 0.5,
        anomaly: on,
      });
    }
    return { rows, rejected: {}, trainingSeconds: 0, backend: 'fake' };
  };
  const report = await evaluateSkab({ dir, maxGapMs: 600_000, replay });
  assert.deepEqual(report.backends, ['fake']);
  assert.deepEqual(report.skipped, [{ key: 'free.csv', reason: 'no anomaly column (no labels)' }]);
  assert.deepEqual(
    seen.map((s) => s.settings),
    [0, 1].map(() => ({ training: { bootstrapReadings: 400 }, windowing: { maxGapMs: 600_000 } })),
  );
  assert.deepEqual(
    report.files.map((f) => [f.key, f.testRows, f.anomalousRows, f.tp, f.fp, f.fn, f.tn]),
    [
      ['valve/a.csv', 10, 5, 5, 2, 0, 3],
      ['valve/b.csv', 10, 5, 0, 0, 5, 5],
    ],
  );
  const t = report.total;
  assert.deepEqual([t.testRows, t.anomalousRows, t.tp, t.fp, t.fn, t.tn], [20, 10, 5, 2, 5, 8]);
  assert.equal(t.f1, 10 / 17);
  assert.equal(t.far, 20);
  assert.equal(t.mar, 50);
  // score > 1: a as before, b finds row 409.
  assert.deepEqual([report.scoreAboveOne.tp, report.scoreAboveOne.fp, report.scoreAboveOne.fn], [6, 2, 4]);
});
