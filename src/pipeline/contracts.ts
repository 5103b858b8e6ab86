/**
 * The contracts stages meet through. A stage imports these (and config, errors, observability),
 * never another stage; only `main.ts` and the CLI wire stages together.
 *
 * Data flow: a source emits {@link SourceRecord}s → decode turns each into a {@link Reading} or a
 * {@link Rejection} → windowing turns readings into {@link WindowOutput}s → scoring and detection
 * turn windows into {@link ScoredReading}s and {@link AnomalyEvent}s → sinks write them, then ack.
 */
import type { LatentPoint } from './latent.js';

/** Called once everything derived from a record has been written; commits its offset. */
export type Ack = () => void;

/** Where a record came from: enough to find it again (and for the DLQ headers). */
export interface Origin {
  /** `kafka`, `file`, `simulator`, … */
  source: string;
  topic?: string;
  partition?: number;
  offset?: string;
  file?: string;
  /** 1-based line number in a file. */
  line?: number;
}

/** Fields a source already parsed (CSV row, simulator); otherwise decode parses `raw` as JSON. */
export interface ParsedFields {
  sensor?: unknown;
  ts?: unknown;
  values?: Record<string, unknown>;
}

/** A record as a source hands it out, before decoding. */
export interface SourceRecord {
  /** The original bytes or text, kept for the dead-letter record. */
  raw: string | Uint8Array;
  /** Kafka message key, or the sensor a file stands for: used when the record names no sensor. */
  key?: string | undefined;
  /** Kafka record timestamp (epoch ms): used when the record has no event time. */
  timestamp?: number | undefined;
  /** Set when the source parsed the record itself; then `raw` is not parsed again. */
  fields?: ParsedFields | undefined;
  /** Set when the source already knows the record is bad (e.g. a CSV row with the wrong column count). */
  invalid?: { reason: RejectReason; detail: string } | undefined;
  /** Ground truth where the source has it (simulator, SKAB): 1 = anomalous. Never used to score. */
  label?: 0 | 1 | undefined;
  origin: Origin;
  /** Processing time (ms since epoch) the record arrived, for `aemon_event_to_score_seconds`. */
  arrivedAt: number;
  /** Position in the source's output, 0-based: keeps file output in input order. */
  seq: number;
  ack: Ack;
  /** Read again only to rebuild window state after a restart: its outputs were written before. */
  replayOnly?: boolean | undefined;
  /**
   * Found in the dead-letter topic already (an earlier owner wrote a rejection of it, then did not
   * commit). Comes with `replayOnly`; a record that holds several readings clears it on the
   * readings (only its rejection is known to be written) and keeps it on the rejections.
   */
  deadLettered?: boolean | undefined;
}

/** A decoded, valid reading. */
export interface Reading {
  sensor: string;
  /** Event time, epoch ms. */
  ts: number;
  /**
   * Channel names, sorted. Readings of one channel set share one frozen array (the decoder
   * interns it), so stages compare channel sets by identity first.
   */
  channels: readonly string[];
  /** The values in `channels` order, every one finite. */
  values: Float64Array;
  label?: 0 | 1 | undefined;
  origin: Origin;
  arrivedAt: number;
  seq: number;
  ack: Ack;
  /** The original bytes and key, so a later rejection (duplicate, too late) can dead-letter them. */
  raw?: string | Uint8Array;
  key?: string | undefined;
  /** Read again only to rebuild window state after a restart: its outputs were written before. */
  replayOnly?: boolean | undefined;
}

/** A reading's values as a channel → value record (the documented JSON layout). */
export function valuesRecord(r: Pick<Reading, 'channels' | 'values'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < r.channels.length; i++) out[r.channels[i]!] = r.values[i]!;
  return out;
}

export const REJECT_REASONS = [
  'not_json',
  'bad_record',
  'missing_sensor',
  'bad_timestamp',
  'future_timestamp',
  'non_finite',
  'missing_channel',
  'unknown_channel',
  'duplicate',
  'too_late',
  'too_large',
  'incomplete',
  'bad_wire_format',
  'schema_unavailable',
  'schema_mismatch',
] as const;
/** Why a record was rejected: the `reason` label of `aemon_readings_rejected_total`. */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** A record that never reaches a tensor: routed to the dead-letter sink, counted, then acked. */
export interface Rejection {
  kind: 'rejected';
  reason: RejectReason;
  /** Human-readable detail, e.g. `values.pressure is NaN`. */
  detail: string;
  raw: string | Uint8Array;
  key?: string | undefined;
  sensor?: string;
  origin: Origin;
  arrivedAt: number;
  seq: number;
  ack: Ack;
  replayOnly?: boolean | undefined;
}

/** What decoding gives for a record: a reading or a rejection. */
export type Decoded = Reading | Rejection;

/**
 * Turns source records into readings and rejections, never throwing. One record may give one
 * output (the common case, returned bare so the hot path allocates no array), several (a message
 * holding many readings: each carries a share of the record's ack, which fires once all are
 * acked) or none yet (a decoder joining several records into one reading holds them; the joined
 * reading's ack acks every record in it). Every record ends in exactly one output's ack.
 */
export interface RecordDecoder {
  decode(record: SourceRecord): Decoded | readonly Decoded[];
  /** Many records at a time, outputs in order (the batch path). */
  decodeMany(records: readonly SourceRecord[]): Decoded[];
  /** End of input: what is still held, as readings or rejections. */
  flush(): readonly Decoded[];
  /**
   * For a decoder that must fetch something before it can decode a record (its schema, from a
   * registry): a promise that settles once `decode(record)` can run, `undefined` when it can now
   * (no promise on the hot path). Never rejects: the decoder retries what is retriable itself.
   * The runner holds this record and every one after it until then, so order is kept.
   */
  prepare?(record: SourceRecord): Promise<void> | undefined;
}

/** A full window of one sensor, ready to score. */
export interface SensorWindow {
  kind: 'window';
  /** Deterministic: `${sensor}@${endTs}`. */
  id: string;
  sensor: string;
  /** Model group key: the sensor's sorted channel names joined by `,`. */
  group: string;
  /** Channel order of `data`'s columns (sorted). */
  channels: readonly string[];
  /** Event time of the first and last reading in the window. */
  start: number;
  end: number;
  /** Raw (unscaled) values, row-major: `size` rows × `channels.length` columns. */
  data: Float32Array;
  /** Readings this window releases: those that arrived since the sensor's previous window. */
  readings: readonly Reading[];
}

/** Readings that will not be covered by a full window (warm-up, before a gap, end of stream). */
export interface WarmingReadings {
  kind: 'warming';
  sensor: string;
  group: string;
  readings: readonly Reading[];
}

/** What the windowing stage emits. */
export type WindowOutput = SensorWindow | WarmingReadings | Rejection;

/** Per-window result of the scoring stage. */
export interface WindowScore {
  window: SensorWindow;
  /** Reconstruction error of the window (mean over steps and channels, in scaled units). */
  error: number;
  /** Each channel's share of `error` (sums to 1), in `window.channels` order. */
  channelShares: Float32Array;
  /** The sensor's calibrated threshold (held-out normal windows), in error units. */
  threshold: number;
  /**
   * The raw score, `error / threshold` (mixed with the latent distance by `scoring.latentWeight`
   * when that is set): what a decision policy takes in. The score users see is
   * the decision's ({@link WindowVerdict}), which equals this one only under `decision: threshold`.
   */
  score: number;
  modelVersion: string;
  /**
   * The model's reconstruction of the window's last reading, in raw units and `window.channels`
   * order, when the model gives it.
   */
  reconstruction?: Float32Array;
  /** With `reconstruction`: per channel, the half-width of the expected band around it, in raw units. */
  tolerance?: Float32Array;
  /** Where the window's code sits in the model's latent space, with `scoring.latent` and a model that has one. */
  latent?: LatentPoint;
}

/** How far above its threshold an anomaly is, by `detection.severity`'s bands on the score. */
export type Severity = 'minor' | 'major' | 'critical';

/**
 * One channel of a window, explained in the channel's own units: what it read, what the model
 * expected (its reconstruction of the window's last reading, the scaling undone), the difference
 * and its share of the window's error. `expected`, `deviation` and `direction` are `null` when
 * the model gives no reconstruction.
 */
export interface ChannelExplanation {
  channel: string;
  /** The channel's share of the window error (the shares of all channels sum to 1). */
  share: number;
  /** `null` only for a window that holds no values. */
  reading: number | null;
  expected: number | null;
  /** `reading − expected`. */
  deviation: number | null;
  direction: 'above' | 'below' | null;
}

/** What the decision made of a window: the one score users see, and why. */
export interface WindowVerdict {
  /** What the hysteresis compared with 1, whichever `detection.decision` is in force: > 1 means above the threshold. */
  score: number;
  /** The threshold in force, in error units; `null` under a policy without one (likelihood). */
  threshold: number | null;
  /** The window's raw score, error ÷ the calibrated threshold. */
  rawScore: number;
  /** The window score's band; `null` at or below 1. */
  severity: Severity | null;
  /** The `detection.topChannels` channels with the largest shares, largest first. */
  topChannels: readonly ChannelExplanation[];
}

/** A scored window with its decision. */
export interface DecidedWindow extends WindowScore {
  verdict: WindowVerdict;
  /** The sensor's open anomaly's severity (its peak's band) after this window; `null` when none is open. */
  anomalySeverity: Severity | null;
}

export const SUPPRESS_REASONS = ['calendar', 'maintenance', 'condition', 'grace'] as const;
/**
 * Why a window was suppressed (neither alarmed on nor learnt from): a calendar span, a maintenance
 * span posted at run time, the machine off by a channel condition, or the grace period after it
 * came back on. The `reason` label of `aemon_suppressed_windows_total`.
 */
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];

/** A sensor's anomaly opening or closing. */
export interface AnomalyEvent {
  /** Stable: derived from sensor, start and model version, so a replay re-emits the same id. */
  id: string;
  kind: 'opened' | 'closed';
  sensor: string;
  group: string;
  /** Event time the anomaly started (end of the first window above threshold). */
  start: number;
  /** Event time it ended (set on `closed`). */
  end?: number;
  /** The highest score (the decision's, > 1 above the threshold) of the anomaly so far. */
  peakScore: number;
  /** The peak score's band. */
  severity: Severity;
  /** The top channels of the peak window, explained. */
  topChannels: readonly ChannelExplanation[];
  modelVersion: string;
  /** Set on a `closed` event that a suppression closed (a maintenance span began, the machine went off). */
  reason?: 'suppressed';
}

/** One output row per input reading (the replay CSV row, the Kafka score record). */
export interface ScoredReading {
  reading: Reading;
  /**
   * The decision's score of this reading's window (> 1 means above the threshold in force);
   * `null` while the sensor is warming (no full window or no model yet).
   */
  score: number | null;
  /** The window's raw score, error ÷ the calibrated threshold. */
  rawScore: number | null;
  error: number | null;
  /** The threshold in force, in error units (`null` while warming, and under `decision: likelihood`). */
  threshold: number | null;
  /** Sensor state after hysteresis when this reading's window was decided. */
  anomaly: boolean;
  channels: readonly string[];
  /** Per-channel error shares, in `channels` order; `null` while warming. */
  channelShares: Float32Array | null;
  /** Id of the window that scored this reading. */
  windowId: string | null;
  /**
   * The model's reconstruction of this reading, in raw units and `channels` order: set on the
   * reading that ended its window (the newest row the model reconstructed), when the model gives it.
   */
  reconstruction?: readonly number[];
  /** With `reconstruction`: per channel, the half-width of the expected band around it, in raw units. */
  tolerance?: readonly number[];
  /** With `scoring.latent`: the window's code in the latent space, set on the reading that ended the window. */
  latent?: LatentPoint;
  /** The reading was part of a training (bootstrap) period: files of scores leave it out. */
  training: boolean;
  /** Set when the reading's window was suppressed: it opened no anomaly and is never learnt from. */
  suppressed?: SuppressReason | undefined;
}

/** What the decision stage emits to sinks. */
export type PipelineOutput =
  | { kind: 'scored'; rows: readonly ScoredReading[]; window: DecidedWindow | null }
  | { kind: 'event'; event: AnomalyEvent }
  | Rejection;

/** A sink writes outputs; the runner acks a reading only after every sink's `write` resolved. */
/**
 * What a sink could not write anywhere: the records whose acks must wait (their offsets are then
 * never committed past them, and the sink has stopped their partitions).
 */
export interface SinkResult {
  held: ReadonlySet<Reading | Rejection>;
}

export interface Sink {
  readonly name: string;
  /** Resolves once written; with a {@link SinkResult} when some records could not be written. */
  write(outputs: readonly PipelineOutput[]): Promise<void | SinkResult | undefined>;
  /** Flush and release resources; called once at the end of a run. */
  close(): Promise<void>;
}

/** One partition's offset to commit (the next record to read), with the source's commit metadata. */
export interface PartitionCommit {
  topic: string;
  partition: number;
  offset: string;
  metadata: string | null;
}

/**
 * Commits a source's offsets together with what a sink wrote for the records before them, as one
 * unit (a Kafka transaction): the outputs become visible exactly when the offsets are committed.
 * A sink that offers it only stages outputs in `write` and sends them here. Rejects when nothing
 * was committed; a rejection that is an `AemonError` with `retryable: false` ends the source.
 */
export interface TransactionalCommit {
  /**
   * With `state`: its records go in the same transaction (see {@link DecisionCheckpoints}). With
   * `stillOwned`, asked again just before the transaction is committed: when it says no (the
   * instance froze mid-transaction past its session), the transaction is aborted instead.
   */
  commit(
    group: string,
    offsets: readonly PartitionCommit[],
    state?: CheckpointRecords,
    stillOwned?: () => boolean,
  ): Promise<void>;
  /** The partition is no longer this instance's: what it staged for it is dropped (the new owner writes it). */
  forget(topic: string, partition: number): void;
}

/** Records of decision state that stand for some offsets: written before them, or in their transaction. */
export interface CheckpointRecords {
  topic: string;
  messages: ReadonlyArray<{ key: string; value: string }>;
  /** They are written and the offsets committed. */
  written(): void;
}

/**
 * The decision state as of the committed offsets, kept beside them so a new owner of a partition
 * decides on exactly where the last one stood: each commit first writes the state its offsets
 * stand for; a newly owned partition reads it back before any of its records is handed out.
 */
export interface DecisionCheckpoints {
  /** The state records for these offsets (about to be committed); `undefined` when nothing moved. */
  prepare(offsets: readonly PartitionCommit[]): CheckpointRecords | undefined;
  /** Writes them outside a transaction; rejects when they were not all written (then nothing is committed). */
  write(records: CheckpointRecords): Promise<void>;
  /** A newly owned partition with offsets committed up to `committed`. Never rejects. */
  restore(topic: string, partition: number, committed: number): Promise<void>;
  /** The partition is no longer this instance's. */
  revoked(topic: string, partition: number): void;
  /** A new group generation: what was read of the state before may be stale. */
  rejoined(): void;
}

/** Sensor lifecycle, exported as `aemon_sensors{state}`. */
export type SensorState = 'warming' | 'scoring' | 'stale';

/**
 * Explicit backpressure (RxJS has none of its own): a source awaits `ready()` before it emits
 * the next record; the runner resolves it while in-flight (emitted, not yet acked) records are
 * below the high-water mark. `undefined` means "go on now" (no promise allocated per record).
 */
export interface FlowControl {
  ready(): Promise<void> | undefined;
}
