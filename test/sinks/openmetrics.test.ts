import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { AemonError } from '../../src/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { PipelineOutput } from '../../src/pipeline/contracts.js';
import {
  OPENMETRICS_FAMILIES,
  omLabelValue,
  omNumber,
  omTimestamp,
  openMetricsSink,
} from '../../src/sinks/openmetrics.js';
import { T0, reading, sampleOutputs, scoredOutput, warming } from './fixtures.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aemon-om-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function writeAll(path: string, batches: PipelineOutput[][]): Promise<string> {
  const sink = openMetricsSink(path);
  for (const b of batches) await sink.write(b);
  await sink.close();
  return readFileSync(path, 'utf8');
}

const s = (i: number): string => ((T0 + i * 1000) / 1000).toFixed(3);

const HELP: Record<string, string> = {
  aemon_anomaly_score:
    'Latest window score: what the decision (detection.decision) compares with 1; >1 means above the threshold in force.',
  aemon_reconstruction_error: 'Latest window reconstruction error, in scaled units.',
  aemon_threshold:
    'The threshold in force for the sensor (detection.decision), in reconstruction-error units; absent under decision likelihood.',
  aemon_anomaly: 'Whether the sensor is anomalous (1) or not (0), after hysteresis.',
  aemon_channel_error: "A channel's share of the latest window reconstruction error (shares sum to 1).",
};
const head = (name: string): string => `# TYPE ${name} gauge\n# HELP ${name} ${HELP[name]}\n`;

test('scored rows become one sample per family at their event time; warming rows and rejections none; # EOF last', async (t) => {
  const om = await writeAll(join(tempDir(t), 'out.om'), [sampleOutputs()]);
  // sampleOutputs: a warming row of a, a rejection, two rows of a (score 1.23456789 × 0.0123,
  // shares 0.1/0.9, anomalous) and one of "b,1" (0.5 × 2, channel rpm).
  const expected =
    head('aemon_anomaly_score') +
    `aemon_anomaly_score{sensor="a"} 1.23457 ${s(1)}\naemon_anomaly_score{sensor="a"} 1.23457 ${s(2)}\naemon_anomaly_score{sensor="b,1"} 0.5 ${s(3)}\n` +
    head('aemon_reconstruction_error') +
    `aemon_reconstruction_error{sensor="a"} 0.0151852 ${s(1)}\naemon_reconstruction_error{sensor="a"} 0.0151852 ${s(2)}\naemon_reconstruction_error{sensor="b,1"} 1 ${s(3)}\n` +
    head('aemon_threshold') +
    `aemon_threshold{sensor="a"} 0.0123 ${s(1)}\naemon_threshold{sensor="a"} 0.0123 ${s(2)}\naemon_threshold{sensor="b,1"} 2 ${s(3)}\n` +
    head('aemon_anomaly') +
    `aemon_anomaly{sensor="a"} 1 ${s(1)}\naemon_anomaly{sensor="a"} 1 ${s(2)}\naemon_anomaly{sensor="b,1"} 0 ${s(3)}\n` +
    head('aemon_channel_error') +
    `aemon_channel_error{sensor="a",channel="pressure"} 0.1 ${s(1)}\naemon_channel_error{sensor="a",channel="pressure"} 0.1 ${s(2)}\n` +
    `aemon_channel_error{sensor="a",channel="temperature"} 0.9 ${s(1)}\naemon_channel_error{sensor="a",channel="temperature"} 0.9 ${s(2)}\n` +
    `aemon_channel_error{sensor="b,1",channel="rpm"} 1 ${s(3)}\n` +
    '# EOF\n';
  assert.equal(om, expected);
});

test('sensors interleaved and out of order come out grouped by family and series, in time order; a repeated timestamp keeps the last row', async (t) => {
  const ch = ['x'];
  const out = (sensor: string, i: number, score: number): PipelineOutput =>
    scoredOutput([reading(sensor, i, { x: 1 })], ch, { score, threshold: 1, shares: [1], anomaly: false });
  const om = await writeAll(join(tempDir(t), 'out.om'), [
    [out('q', 5, 0.5), out('p', 9, 0.9), out('q', 3, 0.3)],
    [out('p', 1, 0.1), out('q', 4, 0.4), out('q', 3, 0.33)],
  ]);
  const lines = om.trimEnd().split('\n');
  const scores = lines.filter((l) => l.startsWith('aemon_anomaly_score{'));
  assert.deepEqual(scores, [
    `aemon_anomaly_score{sensor="p"} 0.1 ${s(1)}`,
    `aemon_anomaly_score{sensor="p"} 0.9 ${s(9)}`,
    `aemon_anomaly_score{sensor="q"} 0.33 ${s(3)}`,
    `aemon_anomaly_score{sensor="q"} 0.4 ${s(4)}`,
    `aemon_anomaly_score{sensor="q"} 0.5 ${s(5)}`,
  ]);
  // Each family is one contiguous block that starts with its TYPE line, in the documented order.
  const families = lines.filter((l) => !l.startsWith('#')).map((l) => l.slice(0, l.indexOf('{')));
  const blocks = families.filter((f, i) => i === 0 || families[i - 1] !== f);
  assert.deepEqual(blocks, OPENMETRICS_FAMILIES);
  assert.deepEqual(
    lines.filter((l) => l.startsWith('# TYPE')).map((l) => l.split(' ')[2]),
    OPENMETRICS_FAMILIES,
  );
  assert.equal(lines.at(-1), '# EOF');
});

test('training rows are left out; label values are escaped; NaN and infinities are spelled the OpenMetrics way', async (t) => {
  const train = {
    ...warming(reading('t', 0, { x: 1 }), ['x']),
    score: 2,
    error: 2,
    threshold: 1,
    channelShares: Float32Array.of(1),
    training: true,
  };
  const odd = 'line "one"\\two\nthree';
  const om = await writeAll(join(tempDir(t), 'out.om'), [
    [
      { kind: 'scored', rows: [train], window: null },
      scoredOutput([reading(odd, 1, { x: 1 })], ['x'], { score: Infinity, threshold: 1, shares: [NaN], anomaly: true }),
    ],
  ]);
  assert.doesNotMatch(om, /sensor="t"/);
  assert.match(om, /^aemon_anomaly_score\{sensor="line \\"one\\"\\\\two\\nthree"\} \+Inf \d+\.000$/m);
  // A NaN share is no sample at all (the channel had no error to share).
  assert.doesNotMatch(om, /^aemon_channel_error\{/m);
  assert.equal(omNumber(NaN), 'NaN');
  assert.equal(omNumber(-Infinity), '-Inf');
  assert.equal(omNumber(1 / 3), '0.333333');
  assert.equal(omTimestamp(Date.UTC(2014, 1, 14, 8, 20, 0, 5)), '1392366000.005');
  assert.equal(omLabelValue('a\\"b'), 'a\\\\\\"b');
});

test('the HELP texts are those of the live metrics', async () => {
  const registry = new Registry();
  createMetrics(registry, { maxSensors: 10 });
  for (const name of OPENMETRICS_FAMILIES) {
    const metric = registry.getSingleMetric(name) as unknown as { help: string } | undefined;
    assert.ok(metric, `${name} is not a live metric`);
    assert.equal(HELP[name], metric.help, name);
  }
});

test('an empty run is a valid file; an unwritable path fails with AEMON_SINK_WRITE at the first write', async (t) => {
  const dir = tempDir(t);
  const empty = await writeAll(join(dir, 'empty.om'), [
    [warming(reading('a', 0, { x: 1 }), ['x'])].map(
      (r) => ({ kind: 'scored', rows: [r], window: null }) as PipelineOutput,
    ),
  ]);
  assert.equal(empty, OPENMETRICS_FAMILIES.map(head).join('') + '# EOF\n');
  const sink = openMetricsSink(join(dir, 'missing', 'out.om'));
  const isSinkWrite = (err: unknown): boolean =>
    err instanceof AemonError && err.code === 'AEMON_SINK_WRITE' && /missing/.test(err.message);
  await assert.rejects(sink.write(sampleOutputs()), isSinkWrite);
  await assert.rejects(sink.close(), isSinkWrite);
});
