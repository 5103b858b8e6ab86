import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogramBuckets, metricSum, quantileBetween, slope } from '../../chaos/metrics.js';
import { maxLag, recoverySeconds } from '../../chaos/recovery.js';
import { parseOptions, parseTime } from '../../chaos/options.js';
import { seededRandom } from '../../chaos/faults.js';
import { table } from '../../chaos/table.js';

const SCRAPE = `# HELP aemon_readings_total Readings.
# TYPE aemon_readings_total counter
aemon_readings_total{source="kafka"} 1200
aemon_readings_total{source="file"} 34
aemon_readings_total_extra 99
process_resident_memory_bytes 104857600
aemon_event_to_score_seconds_bucket{le="0.1"} 50
aemon_event_to_score_seconds_bucket{le="1"} 90
aemon_event_to_score_seconds_bucket{le="10"} 100
aemon_event_to_score_seconds_bucket{le="+Inf"} 100
aemon_event_to_score_seconds_sum 40
aemon_event_to_score_seconds_count 100
`;

test('metricSum adds every label set of one metric and nothing of a longer name', () => {
  assert.equal(metricSum(SCRAPE, 'aemon_readings_total'), 1234);
  assert.equal(metricSum(SCRAPE, 'process_resident_memory_bytes'), 104857600);
  assert.equal(metricSum(SCRAPE, 'aemon_nope'), undefined);
});

test('quantileBetween interpolates within the bucket, over the observations between two scrapes', () => {
  const after = histogramBuckets(SCRAPE, 'aemon_event_to_score_seconds');
  assert.equal(after.get(Infinity), 100);
  // Rank 99 of 100 falls in (1, 10]: 9 of its 10 observations are below it.
  assert.ok(Math.abs(quantileBetween(new Map(), after, 0.99)! - 9.1) < 1e-9);
  // Rank 50: the top of the first bucket.
  assert.equal(quantileBetween(new Map(), after, 0.5), 0.1);
  // Since a scrape with 50 under 0.1 s: the 50 new ones are 40 in (0.1, 1] and 10 in (1, 10].
  const before = new Map([
    [0.1, 50],
    [1, 50],
    [10, 50],
    [Infinity, 50],
  ]);
  assert.equal(quantileBetween(before, after, 0.5), 0.1 + 0.9 * (25 / 40));
  assert.equal(quantileBetween(after, after, 0.99), undefined, 'nothing observed in between');
});

test('slope is the least-squares slope; undefined without two distinct x', () => {
  assert.equal(
    slope([
      [0, 100],
      [1, 102],
      [2, 104],
    ]),
    2,
  );
  assert.equal(slope([[0, 1]]), undefined);
  assert.equal(
    slope([
      [3, 1],
      [3, 5],
    ]),
    undefined,
  );
});

test('recoverySeconds: from each fault to the first caught-up sample after the part was back; the worst; null if never', () => {
  const samples = [
    { t: 0, lag: 10 },
    { t: 1000, lag: undefined },
    { t: 2000, lag: 5000 },
    { t: 3000, lag: 50 },
    { t: 4000, lag: 900 },
    { t: 6000, lag: 20 },
  ];
  assert.equal(maxLag(samples), 5000);
  // Back at 2.5 s; the lag is under 100 first at 3 s: 2 s after the fault began at 1 s.
  assert.equal(recoverySeconds(samples, [{ what: 'x', at: 1000, until: 2500 }], 100), 2);
  // A sample before the part was back does not count, even with a low lag.
  assert.equal(recoverySeconds(samples, [{ what: 'x', at: 0, until: 3500 }], 100), 6);
  assert.equal(
    recoverySeconds(
      samples,
      [
        { what: 'x', at: 1000, until: 2500 },
        { what: 'y', at: 3500, until: 3600 },
      ],
      100,
    ),
    2.5,
  );
  assert.equal(recoverySeconds(samples, [{ what: 'x', at: 5000, until: 7000 }], 100), null);
  assert.equal(recoverySeconds(samples, [], 100), 0);
});

test('options: --quick shortens everything, --soak and --duration take durations, unknown flags are refused', () => {
  const quick = parseOptions(['--quick', '--json', 'out.json']);
  assert.equal(quick.scenarioMs, 60_000);
  assert.equal(quick.soakMs, 90_000);
  assert.equal(quick.json, 'out.json');
  assert.equal(quick.exactlyOnce, false);
  const full = parseOptions(['--soak', '60m', '--exactly-once', '--only', 'stall,aemon-kill']);
  assert.equal(full.soakMs, 3_600_000);
  assert.equal(full.soakSampleMs, 60_000);
  assert.equal(full.scenarioMs, 300_000);
  assert.equal(full.exactlyOnce, true);
  assert.deepEqual(full.scenarios, ['stall', 'aemon-kill']);
  assert.deepEqual(parseOptions(['--only', 'none']).scenarios, []);
  assert.equal(parseTime('90s'), 90_000);
  assert.equal(parseTime('1.5h'), 5_400_000);
  assert.throws(() => parseOptions(['--only', 'meteor']), /unknown scenario "meteor"/);
  assert.throws(() => parseOptions(['--fast']), /unknown option --fast/);
  assert.throws(() => parseOptions(['--soak']), /--soak needs a value/);
  assert.throws(() => parseTime('soon'), /not a duration/);
});

test('the fault schedule repeats for a seed and differs for another', () => {
  const a = seededRandom(7);
  const b = seededRandom(7);
  const c = seededRandom(8);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 5 }, () => c()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('table pads every column to its widest cell', () => {
  assert.equal(
    table(
      ['a', 'bb'],
      [
        [1, 'x'],
        ['long', 22],
      ],
    ),
    '| a    | bb |\n|------|----|\n| 1    | x  |\n| long | 22 |',
  );
});
