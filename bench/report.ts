// The bench's tables, printed from its rows (the same rows `--json` writes).
import type { DecodeRow } from './decode.js';
import type { KafkaRow } from './kafka.js';
import type { PacedRow } from './paced.js';
import type { PipelineRow, ScrapeRow } from './pipeline.js';
import type { RetrainRow } from './retrain.js';
import { kerasRatio, type ModelRow, type Row } from './rows.js';

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return (
    [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n') +
    '\n'
  );
}

/** Every table, in the bench's order; a table without rows prints its heading only (Kafka and model: nothing). */
export function printTables(rows: readonly Row[], out: { write(s: string): unknown }): void {
  const model = rows.filter((r): r is ModelRow => r.name === 'score-m0' || r.name === 'train-m0');
  if (model.length > 0) {
    out.write('\nModel M0 (window 64, LSTM 32, scoring batch 256, training 2048 windows batch 64)\n');
    if (model.some((r) => r.engine.endsWith('-fused-blocklstm')))
      out.write(
        "(tensorflow-fused scores with aemon's LSTM op, scripts/lstm-op.sh; tensorflow-fused-blocklstm with TensorFlow's BlockLSTM)\n",
      );
    const keras = (r: ModelRow): ModelRow | undefined =>
      model.find((k) => k.engine === 'keras' && k.name === r.name && k.channels === r.channels);
    const ratio = (r: ModelRow): string =>
      r.engine === 'keras' ? '1.00' : (kerasRatio(r, keras(r))?.toFixed(2) ?? '—');
    const several = model.some((r) => r.samples);
    if (several)
      out.write(
        '(windows/s: the median of the rounds, each round listed; × Keras: the median of the round-by-round ratios)\n',
      );
    out.write(
      table(
        ['row', 'engine', 'channels', 'windows/s', '× Keras', ...(several ? ['rounds'] : [])],
        model.map((r) => [
          r.name,
          r.engine,
          r.channels,
          r.windowsPerSecond,
          ratio(r),
          ...(several ? [r.samples?.join(' / ') ?? '—'] : []),
        ]),
      ),
    );
  }
  const pipe = rows.filter((r): r is PipelineRow => r.name === 'pipeline' || r.name === 'pipeline-nomodel');
  out.write(
    '\nPipeline: decode → reorder → windows (32, stride 8) → micro-batch → score → decide → metrics, 4 channels, every reading offered at once\n',
  );
  out.write(
    '(pipeline: scored by M0-sized LSTM 32, readings as parsed fields; pipeline-nomodel: a no-op scorer, readings as JSON bytes with ISO-8601 ts)\n',
  );
  out.write(
    table(
      [
        'row',
        'sensors',
        'readings',
        'readings/s',
        'readings/CPU-s',
        'p50 reading→score s',
        'p99 reading→score s',
        'RSS growth MB',
        'backend',
      ],
      pipe.map((r) => [
        r.name,
        r.sensors,
        r.readings,
        r.readingsPerSecond,
        r.readingsPerCpuSecond,
        r.p50Seconds,
        r.p99Seconds,
        (r.rssBytes / 2 ** 20).toFixed(1),
        r.engine,
      ]),
    ),
  );
  const pacedRows = rows.filter((r): r is PacedRow => r.name === 'pipeline-paced');
  out.write(
    "\nPipeline paced: every sensor sends 1 reading/s (JSON bytes), window 32 stride 8, LSTM 32; latency from a reading's due arrival time\n",
  );
  out.write(
    '(window: the reading that completed the window → its score written; reading: every reading, incl. waiting for the stride)\n',
  );
  out.write(
    table(
      [
        'sensors',
        'readings/s offered',
        'readings/s taken',
        'seconds',
        'p50 window s',
        'p99 window s',
        'p99 reading s',
        'CPU cores',
        'backend',
      ],
      pacedRows.map((r) => [
        r.sensors,
        r.ratePerSecond,
        r.achievedPerSecond,
        r.seconds,
        r.p50WindowSeconds,
        r.p99WindowSeconds,
        r.p99ReadingSeconds,
        r.cpuShare,
        r.engine,
      ]),
    ),
  );
  const decode = rows.filter((r): r is DecodeRow => r.name === 'decode');
  out.write(
    '\nDecode alone: the same readings (1000 sensors, 4 channels) in each reading.format, as message bytes, 1000 per decodeMany call (narrow: one message per channel)\n',
  );
  out.write(
    table(
      ['format', 'readings', 'messages/s', 'readings/s'],
      decode.map((r) => [r.format, r.readings, r.messagesPerSecond, r.readingsPerSecond]),
    ),
  );
  const scrape = rows.filter((r): r is ScrapeRow => r.name === 'scrape');
  out.write('\n/metrics scrape\n');
  out.write(
    table(
      ['sensors', 'bytes', 'seconds'],
      scrape.map((r) => [r.sensors, r.bytes, r.seconds]),
    ),
  );
  const retrain = rows.filter((r): r is RetrainRow => r.name === 'scoring-while-training');
  out.write(
    '\nScoring while a challenger trains: the pipeline alone, then beside `aemon train-job` in a child process\n',
  );
  out.write(
    table(
      ['sensors', 'training', 'readings/s', 'p50 reading→score s', 'p99 reading→score s', 'backend'],
      retrain.map((r) => [r.sensors, r.training, r.readingsPerSecond, r.p50Seconds, r.p99Seconds, r.engine]),
    ),
  );
  const kafka = rows.filter((r): r is KafkaRow => r.name === 'kafka');
  if (kafka.length > 0) {
    out.write(
      "\nKafka: a pre-filled topic read by a no-op kafkajs consumer, one that only runs aemon's decoder, then by `aemon run` (window 32, stride 8, 4 channels, LSTM 32)\n",
    );
    out.write(
      table(
        [
          'sensors',
          'readings',
          'partitions',
          'no-op consumer msg/s',
          'decode-only msg/s',
          'aemon run readings/s',
          'exactlyOnce',
          '× no-op',
          'backend',
        ],
        kafka.map((r) => [
          r.sensors,
          r.readings,
          r.partitions,
          r.noopMessagesPerSecond,
          r.decodeOnlyMessagesPerSecond,
          r.aemonReadingsPerSecond,
          r.exactlyOnce ? 'yes' : 'no',
          r.ratio.toFixed(2),
          r.engine,
        ]),
      ),
    );
  }
}
