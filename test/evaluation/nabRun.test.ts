import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNabCorpus, nabResultsPath } from '../../src/evaluation/nabCorpus.js';
import { anomalyScore, evaluateNab } from '../../src/evaluation/nabRun.js';
import type { ReplayedRow, ReplayFile } from '../../src/evaluation/replay.js';
import { tempDir } from '../tempdir.js';

const T0 = Date.UTC(2014, 3, 1);
const stamp = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

function nabFile(records: number, stepMs: number): string {
  const lines = ['timestamp,value'];
  for (let i = 0; i < records; i++) lines.push(`${stamp(T0 + i * stepMs)},${(i % 7) + 0.5}`);
  return lines.join('\n') + '\n';
}

/** data/cat/x.csv: 100 records every 5 min, window 40..49; data/cat/y.csv: 60 hourly, no window; data/extra/z.csv: not labelled. */
function corpus(): string {
  const dir = tempDir('aemon-nab-');
  mkdirSync(join(dir, 'data', 'cat'), { recursive: true });
  mkdirSync(join(dir, 'data', 'extra'), { recursive: true });
  writeFileSync(join(dir, 'data', 'cat', 'x.csv'), nabFile(100, 300_000));
  writeFileSync(join(dir, 'data', 'cat', 'y.csv'), nabFile(60, 3_600_000));
  writeFileSync(join(dir, 'data', 'extra', 'z.csv'), nabFile(10, 300_000));
  const window = [`${stamp(T0 + 40 * 300_000)}.000000`, `${stamp(T0 + 49 * 300_000)}.000000`];
  writeFileSync(join(dir, 'combined_windows.json'), JSON.stringify({ 'cat/x.csv': [window], 'cat/y.csv': [] }));
  return dir;
}

test('aemon’s score becomes an anomaly score in [0, 1) by s / (1 + s); unscored is 0', () => {
  assert.equal(anomalyScore(1), 0.5);
  assert.equal(anomalyScore(3), 0.75);
  assert.equal(anomalyScore(0), 0);
  assert.equal(anomalyScore(null), 0);
  assert.equal(anomalyScore(Infinity), 1);
  assert.ok(anomalyScore(1e9) < 1);
});

test('a NAB-layout folder: windows resolved to records, unlabelled files skipped, NAB’s profiles by default', async () => {
  const c = await loadNabCorpus(corpus());
  assert.deepEqual(
    c.files.map((f) => [f.key, f.records.length, f.windows]),
    [
      ['cat/x.csv', 100, [[40, 49]]],
      ['cat/y.csv', 60, []],
    ],
  );
  assert.deepEqual(c.skipped, [{ key: 'extra/z.csv', reason: 'no entry in combined_windows.json' }]);
  assert.deepEqual(c.profiles.reward_low_FN_rate, { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 });
  assert.equal(
    nabResultsPath('/r', 'realTweets/Twitter_volume_AAPL.csv'),
    join('/r', 'aemon', 'realTweets', 'aemon_Twitter_volume_AAPL.csv'),
  );
});

test('evaluateNab: probationary records train and score 0, one engine per file, NAB results written', async () => {
  const dir = corpus();
  const out = join(dir, 'results');
  const calls: Array<{ key: string; settings: unknown }> = [];
  // x: score 3 at the window start (record 40), 0.2 elsewhere, record 30 rejected (no row),
  // records 15 and 16 warming; y: 0.2 everywhere. Line of record i is i + 2.
  const replay: ReplayFile = async (_path, settings, key) => {
    calls.push({ key, settings });
    const n = key === 'cat/x.csv' ? 100 : 60;
    const train = key === 'cat/x.csv' ? 15 : 9;
    const rows: ReplayedRow[] = [];
    for (let i = 0; i < n; i++) {
      if (key === 'cat/x.csv' && i === 30) continue;
      const warming = key === 'cat/x.csv' && (i === 15 || i === 16);
      const score = i < train || warming ? null : key === 'cat/x.csv' && i === 40 ? 3 : 0.2;
      rows.push({ line: i + 2, training: i < train, score, rawScore: score, anomaly: score === 3 });
    }
    const rejected: Record<string, number> = key === 'cat/x.csv' ? { duplicate: 1 } : {};
    return { rows, rejected, trainingSeconds: 0.5, backend: 'fake' };
  };
  const report = await evaluateNab({ dir, out, maxGapMs: 600_000, replay });
  assert.deepEqual(calls, [
    // 10 × the 5-minute step: a reading 50 minutes after the previous one still continues its window.
    { key: 'cat/x.csv', settings: { training: { bootstrapReadings: 15 }, windowing: { maxGapMs: 3_000_000 } } },
    { key: 'cat/y.csv', settings: { training: { bootstrapReadings: 9 }, windowing: { maxGapMs: 36_000_000 } } },
  ]);
  const x = report.files[0]!;
  assert.deepEqual(
    [x.records, x.probation, x.windows, x.scored, x.anomalous, x.rejected, x.maxGapMs],
    [100, 15, 1, 82, 1, 1, 3_000_000],
  );

  const lines = readFileSync(join(out, 'aemon', 'cat', 'aemon_x.csv'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(lines[0], 'timestamp,value,anomaly_score,label');
  assert.equal(lines.length, 101);
  assert.equal(lines[1], `${stamp(T0)},0.5,0,0`);
  assert.equal(lines[17]!.split(',')[2], '0', 'warming record 16');
  assert.equal(lines[18]!.split(',')[2], '0', 'scored, but no anomaly opened here');
  assert.equal(lines[31]!.split(',')[2], '0', 'rejected record 30');
  assert.deepEqual(lines[41]!.split(',').slice(2), ['0.75', '1']);
  assert.deepEqual(lines[50]!.split(',').slice(2), ['0', '1']);
  assert.deepEqual(lines[51]!.split(',').slice(2), ['0', '0']);

  // The one anomaly opens at the window start (score 3 → 0.75): the perfect result, in every profile.
  for (const p of Object.values(report.profiles)) {
    assert.equal(p.threshold, 0.75);
    assert.equal(p.raw, 1);
    assert.equal(p.score, 100);
  }
  assert.deepEqual(report.backends, ['fake']);
  assert.deepEqual(report.skipped, [{ key: 'extra/z.csv', reason: 'no entry in combined_windows.json' }]);
});
