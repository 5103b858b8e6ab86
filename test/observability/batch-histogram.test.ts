import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { BatchHistogram } from '../../src/observability/metrics/batch-histogram.js';

const BOUNDS = [0.01, 0.025, 0.1, 1, 2.5, 10];

test("a batch histogram is exported exactly as prom-client's histogram of the same observations, in both formats", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.oneof(fc.double({ min: 0, max: 30, noNaN: true }), fc.constantFrom(...BOUNDS, 0)), {
          maxLength: 20,
        }),
        {
          maxLength: 5,
        },
      ),
      fc.boolean(),
      async (batches, openMetrics) => {
        const registry = (): Registry => {
          if (!openMetrics) return new Registry();
          const r = new Registry<OpenMetricsContentType>();
          r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
          return r as unknown as Registry;
        };
        const ours = registry();
        const theirs = registry();
        const batch = new BatchHistogram('x_seconds', 'Help text.', BOUNDS, [ours]);
        const reference = new Histogram({
          name: 'x_seconds',
          help: 'Help text.',
          buckets: BOUNDS,
          registers: [theirs],
        });
        for (const values of batches) {
          batch.observeMany(values);
          for (const v of values) reference.observe(v);
        }
        assert.equal(await ours.metrics(), await theirs.metrics());
      },
    ),
    { numRuns: 300 },
  );
});

test('a batch histogram observes only the first n values, refuses a value that is not a number, and resets', async () => {
  const registry = new Registry();
  const h = new BatchHistogram('y_seconds', 'Help.', [1], [registry]);
  h.observeMany(new Float64Array([0.5, 2, 99]), 2);
  const text = await registry.metrics();
  assert.match(text, /^y_seconds_bucket\{le="1"\} 1$/m);
  assert.match(text, /^y_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(text, /^y_seconds_sum 2\.5$/m);
  assert.match(text, /^y_seconds_count 2$/m);
  assert.throws(() => h.observeMany([Number.NaN]), /not a valid number/);
  h.reset();
  assert.match(await registry.metrics(), /^y_seconds_count 0$/m);
});
