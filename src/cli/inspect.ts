import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaClientOptions } from '../config/kafka.js';
import type { Config, ReadingConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { RecordDecoder, SourceRecord } from '../pipeline/contracts.js';
import { createRecordDecoder } from '../sources/decoders/select.js';
import { installKafkaCodecs } from '../sources/codecs.js';
import { readRange } from '../sources/kafka-range.js';
import { commandConfig, commandLogger, parsePositiveInt } from './common.js';
import { configLines, readCount, suggest, viewRecords, type RecordView, type Suggestion } from './inspect-suggest.js';
import { createKafka } from './kafka.js';
import { checkTls } from './tls-check.js';

export interface InspectFlags {
  config?: string;
  kafkaTopic?: string;
  file?: string;
  n?: string;
  json?: boolean;
  verbose?: boolean;
}

const RAW_MAX = 120;
const READ_TIMEOUT_MS = 30_000;

/**
 * The first `n` records of a topic, every partition from its beginning, read under a throw-away
 * group that never commits (`readRange`), so the configured consumer group's offsets stay as they were.
 */
async function kafkaRecords(kafka: Kafka, cfg: Readonly<Config>, topic: string, n: number): Promise<SourceRecord[]> {
  const where = cfg.kafka.brokers.join(',');
  await checkTls(cfg.kafka);
  const admin = kafka.admin();
  let available = 0;
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(topic))
      throw new AemonError('AEMON_KAFKA', `topic ${topic} does not exist at ${where}`, { stage: 'cli' });
    for (const p of await admin.fetchTopicOffsets(topic)) available += Number(p.high) - Number(p.low);
  } catch (cause) {
    if (cause instanceof AemonError) throw cause;
    throw new AemonError('AEMON_KAFKA', `cannot reach Kafka at ${where}: ${(cause as Error).message}`, {
      stage: 'cli',
      cause,
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const want = Math.min(n, available);
  const out: SourceRecord[] = [];
  if (want === 0) return out;
  let finish!: () => void;
  const enough = new Promise<void>((resolve) => (finish = resolve));
  // Records are far from a year ahead of the clock; the end offset of a time past the last record is the high watermark.
  const read = readRange({ kafka, topic, fromMs: 0, toMs: Date.now() + 365 * 86_400_000 }, (partition, m) => {
    if (out.length >= want) return;
    out.push({
      raw: m.value ?? new Uint8Array(0),
      ...(m.key ? { key: m.key.toString('utf8') } : {}),
      timestamp: Number(m.timestamp),
      origin: { source: 'kafka', topic, partition, offset: m.offset },
      arrivedAt: Date.now(),
      seq: out.length,
      ack: () => undefined,
    });
    if (out.length >= want) finish();
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new AemonError(
            'AEMON_KAFKA',
            `read ${out.length} of ${want} records of ${topic} in ${READ_TIMEOUT_MS / 1000} s`,
            { stage: 'cli' },
          ),
        ),
      READ_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([enough, read.done.then(finish), timeout]);
  } catch (cause) {
    if (cause instanceof AemonError) throw cause;
    throw new AemonError('AEMON_KAFKA', `cannot read ${topic}: ${(cause as Error).message}`, { stage: 'cli', cause });
  } finally {
    clearTimeout(timer);
    read.stop();
  }
  return out
    .sort((a, b) => a.origin.partition! - b.origin.partition! || Number(a.origin.offset) - Number(b.origin.offset))
    .map((r, seq) => ({ ...r, seq }));
}

/** The first `n` non-empty lines of a file (NDJSON or line protocol), one record each. */
function fileRecords(file: string, n: number): SourceRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new AemonError('AEMON_INPUT_READ', `cannot read ${file}: ${(cause as Error).message}`, {
      stage: 'cli',
      cause,
    });
  }
  const out: SourceRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && out.length < n; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    out.push({
      raw: line,
      origin: { source: 'file', file, line: i + 1 },
      arrivedAt: Date.now(),
      seq: out.length,
      ack: () => undefined,
    });
  }
  return out;
}

export interface InspectReport {
  source: { topic: string } | { file: string };
  format: ReadingConfig['format'];
  total: number;
  read: number;
  records: Array<RecordView & { partition?: number; offset?: string; line?: number; raw: string }>;
  suggestion?: Suggestion;
}

/**
 * The decoder `reading` names, with every schema the records need already fetched (Schema
 * Registry formats). A registry that does not answer is tried a few times, then its records show
 * as `schema_unavailable`: inspect answers rather than waits.
 */
async function preparedDecoder(reading: ReadingConfig, records: readonly SourceRecord[]): Promise<RecordDecoder> {
  const decoder = createRecordDecoder(reading, { maxAttempts: 3 });
  for (const r of records) await decoder.prepare?.(r);
  return decoder;
}

/** A record's bytes as text; a framed (Schema Registry) record is binary, shown in hex. */
function rawText(r: SourceRecord): string {
  const framed = typeof r.raw !== 'string' && r.raw[0] === 0 && r.raw.byteLength >= 5;
  const s =
    typeof r.raw === 'string'
      ? r.raw
      : framed
        ? `0x${Buffer.from(r.raw.subarray(0, RAW_MAX)).toString('hex')}`
        : Buffer.from(r.raw).toString('utf8');
  return s.length <= RAW_MAX ? s : `${s.slice(0, RAW_MAX - 1)}…`;
}

/** How each record maps under `reading`, and (when most are rejected) the config that reads them. */
export function inspectRecords(
  reading: ReadingConfig,
  records: readonly SourceRecord[],
  source: InspectReport['source'],
  decoder?: RecordDecoder,
): InspectReport {
  const views = viewRecords(reading, records, decoder);
  const bySeq = new Map(records.map((r) => [r.seq, r]));
  const report: InspectReport = {
    source,
    format: reading.format,
    total: records.length,
    read: readCount(views),
    records: views.map((v) => {
      const r = bySeq.get(v.seq)!;
      const o = r.origin;
      return {
        ...(o.partition !== undefined ? { partition: o.partition, offset: o.offset! } : {}),
        ...(o.line !== undefined ? { line: o.line } : {}),
        raw: rawText(r),
        ...v,
      };
    }),
  };
  const s = suggest(reading, records);
  if (s) report.suggestion = s;
  return report;
}

const channelsText = (c: Record<string, number>): string =>
  `{${Object.entries(c)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}}`;

export function formatReport(rep: InspectReport): string {
  const out: string[] = [];
  const where = 'topic' in rep.source ? `topic ${rep.source.topic}` : rep.source.file;
  out.push(`${rep.total} records of ${where}, read with reading.format ${rep.format}:`);
  for (const r of rep.records) {
    out.push(`${r.partition !== undefined ? `p${r.partition}@${r.offset}` : `line ${r.line}`}  ${r.raw}`);
    for (const x of r.readings)
      out.push(`  → sensor ${x.sensor}, time ${x.time}, channels ${channelsText(x.channels)}`);
    for (const x of r.rejections) out.push(`  → rejected: ${x.reason} (${x.detail})`);
    if (r.readings.length === 0 && r.rejections.length === 0)
      out.push('  → joined into a reading shown above (narrow)');
  }
  out.push('', `reading.format ${rep.format} reads ${rep.read} of ${rep.total} records.`);
  const s = rep.suggestion;
  if (s) {
    out.push(`Suggestion: reading.format ${String(s.overrides.format)} would read ${s.reads} of ${rep.total}.`);
    if (s.guessed) out.push(`(fields guessed from the records: ${s.guessed}; check them)`);
    if (s.example)
      out.push(
        `It reads the first as sensor ${s.example.sensor}, time ${s.example.time}, channels ${channelsText(s.example.channels)}.`,
      );
    out.push(
      'In the config file:',
      ...s.yaml.map((l) => `  ${l}`),
      'or as environment variables:',
      ...s.env.map((l) => `  ${l}`),
    );
  } else if (rep.read * 2 < rep.total) {
    out.push('No other format (json, telegraf-json, influx, or guessed json fields) reads more of them.');
  } else {
    out.push(
      `The current config reads them (reading.format: ${rep.format}, ${configLines({ format: rep.format }).env.join(' ')}).`,
    );
  }
  return out.join('\n') + '\n';
}

export async function inspect(flags: InspectFlags): Promise<void> {
  if ((flags.kafkaTopic === undefined) === (flags.file === undefined)) {
    throw new AemonError('AEMON_USAGE', 'name one input: --kafka-topic <topic> or --file <file>', { stage: 'cli' });
  }
  const n = flags.n === undefined ? 20 : parsePositiveInt(flags.n, '-n');
  const cfg = commandConfig(flags.config, {});
  let records: SourceRecord[];
  let source: InspectReport['source'];
  if (flags.kafkaTopic !== undefined) {
    const log = commandLogger(cfg, flags.verbose);
    installKafkaCodecs(log);
    // A look at a topic waits seconds, not the service's minute of reconnects, and its failure is
    // the one error line below rather than kafkajs' log of every retry (--verbose shows them).
    const kafka = flags.verbose
      ? createKafka(cfg.kafka, log, '-inspect')
      : new Kafka({
          ...kafkaClientOptions(cfg.kafka, '-inspect'),
          retry: { initialRetryTime: 300, retries: 3, maxRetryTime: 2_000 },
          logLevel: logLevel.NOTHING,
        });
    records = await kafkaRecords(kafka, cfg, flags.kafkaTopic, n);
    source = { topic: flags.kafkaTopic };
  } else {
    records = fileRecords(flags.file!, n);
    source = { file: flags.file! };
  }
  if (records.length === 0) {
    const where = 'topic' in source ? `topic ${source.topic}` : source.file;
    throw new AemonError('AEMON_INPUT_READ', `${where} holds no records to inspect`, { stage: 'cli' });
  }
  const rep = inspectRecords(cfg.reading, records, source, await preparedDecoder(cfg.reading, records));
  process.stdout.write(flags.json ? JSON.stringify(rep, null, 2) + '\n' : formatReport(rep));
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'show how the first records of a topic or file are read (sensor, time, channels, or why rejected) and the config that reads them',
    )
    .addHelpText(
      'after',
      '\nEach record goes through the decoder reading.format names, as in aemon run. When most are rejected, the other\n' +
        'formats (json, telegraf-json, influx) and a guess at JSON fields (sensor, time and its unit, channels; or one\n' +
        'channel per message as narrow) are tried on the same records, and the one that reads most is printed as config\n' +
        'lines, YAML and AEMON_* env. A guess is a suggestion: check it.\n' +
        'A topic is read under a throw-away consumer group that commits nothing: kafka.groupId keeps its offsets.\n' +
        'aemon run --dry-run does the same for the first topic of kafka.topics.\n\n' +
        'Examples:\n' +
        '  AEMON_KAFKA_BROKERS=127.0.0.1:9092 npx aemon inspect --kafka-topic telegraf -n 5\n' +
        '  npx aemon inspect --file readings.ndjson --json\n',
    )
    .option(
      '--kafka-topic <topic>',
      'topic to read from its beginning, every partition (brokers from kafka.brokers / AEMON_KAFKA_BROKERS)',
    )
    .option('--file <file>', 'a local file instead: NDJSON or line protocol, one record a line')
    .option('-n <count>', 'records to read (default 20)')
    .option('--json', 'print the same as one JSON document, for scripts')
    .option(
      '-c, --config <file>',
      'config file (YAML or JSON); every setting also as AEMON_* env, e.g. AEMON_READING_FORMAT',
    )
    .option('--verbose', "log at log.level, kafkajs retries included (and the service's longer reconnect schedule)")
    .action(async (flags: InspectFlags) => inspect(flags));
}
