import type { PipelineOutput, ScoredReading, Sink } from '../pipeline/contracts.js';
import { openTextWriter } from './fileWriter.js';
import { roundNumber } from './scores.js';

/** A Float64Array (or Float32Array, Uint8Array) that grows by doubling: 8 (4, 1) bytes a value. */
class Column<A extends Float64Array | Float32Array | Uint8Array> {
  length = 0;
  constructor(
    private data: A,
    private readonly make: (n: number) => A,
  ) {}

  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }

  at(i: number): number {
    return this.data[i] as number;
  }
}

const f64 = (n = 64): Column<Float64Array> => new Column(new Float64Array(n), (m) => new Float64Array(m));
const f32 = (n = 64): Column<Float32Array> => new Column(new Float32Array(n), (m) => new Float32Array(m));
const u8 = (n = 64): Column<Uint8Array> => new Column(new Uint8Array(n), (m) => new Uint8Array(m));

/** Everything written for one sensor, one entry per scored row, columns side by side. */
interface SensorRows {
  ts: Column<Float64Array>;
  score: Column<Float64Array>;
  error: Column<Float64Array>;
  threshold: Column<Float64Array>;
  anomaly: Column<Uint8Array>;
  channels: string[];
  shares: Array<Column<Float32Array>>;
  lastTs: number;
  inOrder: boolean;
}

// HELP texts as in src/observability/metrics.ts (a test keeps them equal).
const SENSOR_FAMILIES = [
  [
    'aemon_anomaly_score',
    'Latest window score: what the decision (detection.decision) compares with 1; >1 means above the threshold in force.',
    'score',
  ],
  ['aemon_reconstruction_error', 'Latest window reconstruction error, in scaled units.', 'error'],
  [
    'aemon_threshold',
    'The threshold in force for the sensor (detection.decision), in reconstruction-error units; absent under decision likelihood.',
    'threshold',
  ],
  ['aemon_anomaly', 'Whether the sensor is anomalous (1) or not (0), after hysteresis.', 'anomaly'],
] as const;
const CHANNEL_FAMILY = [
  'aemon_channel_error',
  "A channel's share of the latest window reconstruction error (shares sum to 1).",
] as const;

/** The metric families the file holds, in the order they are written. */
export const OPENMETRICS_FAMILIES: readonly string[] = [...SENSOR_FAMILIES.map((f) => f[0]), CHANNEL_FAMILY[0]];

/** OpenMetrics numbers: the score file's rounding (so values equal the CSV's), NaN and ±Inf spelled out. */
export function omNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return String(roundNumber(x));
}

/** OpenMetrics timestamps are seconds; event times are whole milliseconds. */
export function omTimestamp(ms: number): string {
  return (ms / 1000).toFixed(3);
}

const familyHeader = (name: string, help: string): string => `# TYPE ${name} gauge\n# HELP ${name} ${help}\n`;

export function omLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function newSensor(channels: readonly string[]): SensorRows {
  return {
    ts: f64(),
    score: f64(),
    error: f64(),
    threshold: f64(),
    anomaly: u8(),
    channels: [...channels],
    shares: channels.map(() => f32()),
    lastTs: -Infinity,
    inOrder: true,
  };
}

function add(s: SensorRows, row: ScoredReading): void {
  const ts = row.reading.ts;
  if (ts <= s.lastTs) s.inOrder = false;
  s.lastTs = Math.max(s.lastTs, ts);
  s.ts.push(ts);
  s.score.push(row.score ?? NaN);
  s.error.push(row.error ?? NaN);
  s.threshold.push(row.threshold ?? NaN);
  s.anomaly.push(row.anomaly ? 1 : 0);
  // A sensor's channel set is fixed (docs/kafka.md#a-reading); a channel that still turns up later gets a column
  // whose earlier rows are NaN, which is never written.
  for (const c of row.channels) {
    if (!s.channels.includes(c)) {
      const col = f32();
      for (let i = 0; i < s.ts.length - 1; i++) col.push(NaN);
      s.channels.push(c);
      s.shares.push(col);
    }
  }
  const same = row.channels.length === s.channels.length && row.channels.every((c, i) => s.channels[i] === c);
  for (let j = 0; j < s.channels.length; j++) {
    const i = same ? j : row.channels.indexOf(s.channels[j] as string);
    s.shares[j]!.push(i < 0 || row.channelShares === null ? NaN : (row.channelShares[i] ?? NaN));
  }
}

/**
 * Row indices in event-time order (`null`: already in order, the common case); of rows with equal
 * timestamps the last one written wins (Prometheus rejects two samples of a series at one time).
 */
function timeOrder(s: SensorRows): Uint32Array | null {
  if (s.inOrder) return null;
  const idx = Array.from({ length: s.ts.length }, (_, i) => i);
  idx.sort((a, b) => s.ts.at(a) - s.ts.at(b) || a - b);
  return Uint32Array.from(idx.filter((i, k) => k + 1 === idx.length || s.ts.at(idx[k + 1]!) !== s.ts.at(i)));
}

function* rowsOf(s: SensorRows, order: Uint32Array | null): Generator<number> {
  if (order === null) for (let i = 0; i < s.ts.length; i++) yield i;
  else yield* order;
}

/**
 * Writes replayed scores as OpenMetrics text with their event timestamps, for `promtool tsdb
 * create-blocks-from openmetrics` (backfilling Prometheus with history): per scored reading, one
 * sample each of `aemon_anomaly_score`, `aemon_reconstruction_error`, `aemon_threshold`,
 * `aemon_anomaly` (label `sensor`) and `aemon_channel_error` (labels `sensor`, `channel`) — the
 * values the live gauges would have held after that reading, equal to the replay CSV's. Training
 * and warming rows have no samples.
 *
 * OpenMetrics wants each metric family in one block and each series' samples in time order, while
 * a replay emits rows in input order, sensors interleaved. So rows are kept in memory, in typed
 * columns per sensor (33 + 4 × channels bytes a scored row, up to twice that while the columns
 * grow: 50–100 MB per million rows of 4-channel sensors), and the file is written by `close()`.
 * Replay a very long history in parts (one file each) if that is too much: promtool imports every
 * part, and Prometheus merges overlapping blocks.
 */
export function openMetricsSink(path: string): Sink {
  const file = openTextWriter(path);
  const sensors = new Map<string, SensorRows>();
  let started = false;

  return {
    name: 'openmetrics-file',
    async write(outputs: readonly PipelineOutput[]) {
      // The first family's header goes out at once, so an unwritable path fails the first write
      // rather than the end of a long replay.
      if (!started) {
        started = true;
        await file.write(familyHeader(SENSOR_FAMILIES[0][0], SENSOR_FAMILIES[0][1]));
      }
      for (const out of outputs) {
        if (out.kind !== 'scored' || out.window === null) continue;
        for (const row of out.rows) {
          if (row.training || row.score === null) continue;
          const sensor = row.reading.sensor;
          let s = sensors.get(sensor);
          if (s === undefined) sensors.set(sensor, (s = newSensor(row.channels)));
          add(s, row);
        }
      }
    },
    async close() {
      const names = [...sensors.keys()].sort();
      const orders = new Map(names.map((n) => [n, timeOrder(sensors.get(n)!)]));
      let text = started ? '' : familyHeader(SENSOR_FAMILIES[0][0], SENSOR_FAMILIES[0][1]);
      started = true;
      const flush = async (force: boolean): Promise<void> => {
        if (force || text.length >= 1 << 20) {
          const chunk = text;
          text = '';
          await file.write(chunk);
        }
      };
      for (const [k, [name, help, column]] of SENSOR_FAMILIES.entries()) {
        if (k > 0) text += familyHeader(name, help);
        for (const sensor of names) {
          const s = sensors.get(sensor)!;
          const series = `${name}{sensor="${omLabelValue(sensor)}"} `;
          for (const i of rowsOf(s, orders.get(sensor) ?? null)) {
            text += `${series}${omNumber(s[column].at(i))} ${omTimestamp(s.ts.at(i))}\n`;
          }
          await flush(false);
        }
      }
      const [name, help] = CHANNEL_FAMILY;
      text += familyHeader(name, help);
      for (const sensor of names) {
        const s = sensors.get(sensor)!;
        const byName = s.channels.map((c, j) => [c, j] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [channel, j] of byName) {
          const series = `${name}{sensor="${omLabelValue(sensor)}",channel="${omLabelValue(channel)}"} `;
          const col = s.shares[j]!;
          for (const i of rowsOf(s, orders.get(sensor) ?? null)) {
            const v = col.at(i);
            if (!Number.isNaN(v)) text += `${series}${omNumber(v)} ${omTimestamp(s.ts.at(i))}\n`;
          }
          await flush(false);
        }
      }
      text += '# EOF\n';
      await flush(true);
      sensors.clear();
      await file.close();
    },
  };
}
