import type { Registry } from 'prom-client';

/**
 * A histogram without labels that takes a batch of observations in one call, with no allocation
 * per observation (prom-client's `observe` makes several objects each time, and one reading is
 * one observation). The registry exports it as it does prom-client's own histograms: cumulative
 * `_bucket{le}` series ending in `+Inf`, then `_sum` and `_count`.
 */
export class BatchHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    registers: readonly Registry[],
  ) {
    this.counts = new Float64Array(upperBounds.length + 1);
    // The registry reads any object with a name, help, type and get(), as prom-client's own metrics.
    for (const r of registers) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Observes the first `n` values; a value that is not a finite number is a programming error, as in prom-client. */
  observeMany(values: ArrayLike<number>, n = values.length): void {
    const { upperBounds, counts } = this;
    const last = upperBounds.length;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) throw new TypeError(`${this.name}: value is not a valid number: ${v}`);
      let b = 0;
      while (b < last && v > upperBounds[b]!) b++;
      counts[b]!++;
      this.sum += v;
      this.count++;
    }
  }

  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }>;
  } {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    let cumulative = 0;
    for (let b = 0; b <= this.upperBounds.length; b++) {
      cumulative += this.counts[b]!;
      const le = b < this.upperBounds.length ? this.upperBounds[b]! : '+Inf';
      values.push({ labels: { le }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}
