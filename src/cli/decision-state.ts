import type { Kafka, Producer } from 'kafkajs';
import { compressionType } from '../config/kafka.js';
import type { DetectionConfig, KafkaConfig } from '../config/schema.js';
import { CommittedDecisions } from '../detection/committed.js';
import type { AnomalyDetector } from '../detection/detector.js';
import { decodeState, encodeState } from '../detection/state-codec.js';
import type { Logger } from '../observability/logger.js';
import type { AemonMetrics } from '../observability/metrics.js';
import type { CheckpointRecords, DecisionCheckpoints, PartitionCommit } from '../pipeline/contracts.js';
import { batchBudget, chunkMessages, KAFKA_DEFAULT_MAX_BYTES } from '../sinks/kafka-size.js';
import { StateTopicReader } from '../sources/kafka-state.js';

/** How the state topic is created when missing: compacted (the latest state per sensor stays), one partition. */
export function stateTopicSpec(topic: string): {
  topic: string;
  numPartitions: number;
  configEntries: Array<{ name: string; value: string }>;
} {
  return { topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] };
}

/** A state record's key: the group, the input partition and the sensor. */
export function stateKey(group: string, topic: string, partition: number, sensor: string): string {
  return JSON.stringify([group, topic, partition, sensor]);
}

function parseKey(key: string): [string, string, number, string] | undefined {
  try {
    const k: unknown = JSON.parse(key);
    if (
      Array.isArray(k) &&
      k.length === 4 &&
      typeof k[0] === 'string' &&
      typeof k[1] === 'string' &&
      Number.isInteger(k[2]) &&
      typeof k[3] === 'string'
    )
      return k as [string, string, number, string];
  } catch {
    // another tool's record: not ours
  }
  return undefined;
}

/** A state record's value: the committed offset of its partition it stands for, and the sensor's state. */
export interface StateValue {
  v: 1;
  offset: number;
  state: unknown;
}

function parseValue(text: string): StateValue | undefined {
  try {
    const v = JSON.parse(text) as Partial<StateValue> | null;
    if (typeof v === 'object' && v !== null && v.v === 1 && Number.isInteger(v.offset) && v.state !== undefined)
      return v as StateValue;
  } catch {
    // ill-formed: the sensor starts afresh
  }
  return undefined;
}

/**
 * Per sensor of one input partition, the record standing for the latest offset up to the
 * committed one (the sensor did not move since); later ones stand for commits that did not happen
 * (`ahead` counts the sensors that have only those). By offset rather than by position: an
 * instance that stalled past its session can write a state for an older offset after the new
 * owner wrote a newer one.
 */
export function latestStates(
  records: ReadonlyArray<{ key: string; value: string }>,
  at: { group: string; topic: string; partition: number; offset: number },
): { latest: Map<string, StateValue>; ahead: number } {
  const latest = new Map<string, StateValue>();
  const later = new Set<string>();
  for (const r of records) {
    const k = parseKey(r.key);
    if (!k || k[0] !== at.group || k[1] !== at.topic || k[2] !== at.partition) continue;
    const v = parseValue(r.value);
    if (v === undefined) latest.delete(k[3]);
    else if (v.offset <= at.offset) {
      if (!((latest.get(k[3])?.offset ?? -1) > v.offset)) latest.set(k[3], v);
    } else later.add(k[3]);
  }
  let ahead = 0;
  for (const sensor of later) if (!latest.has(sensor)) ahead++;
  return { latest, ahead };
}

/** The state records of the sensors that moved up to these commits, or undefined when none did. */
function checkpointRecords(
  committed: CommittedDecisions,
  group: string,
  topic: string,
  offsets: readonly PartitionCommit[],
): CheckpointRecords | undefined {
  const messages: Array<{ key: string; value: string }> = [];
  const moved: Array<{ topic: string; partition: number; sensors: string[] }> = [];
  for (const o of offsets) {
    const offset = Number(o.offset);
    committed.advance(o.topic, o.partition, offset);
    const states = committed.moved(o.topic, o.partition);
    if (states.length === 0) continue;
    for (const { sensor, state } of states) {
      const value: StateValue = { v: 1, offset, state: encodeState(state) };
      messages.push({ key: stateKey(group, o.topic, o.partition, sensor), value: JSON.stringify(value) });
    }
    moved.push({ topic: o.topic, partition: o.partition, sensors: states.map((s) => s.sensor) });
  }
  if (messages.length === 0) return undefined;
  return {
    topic,
    messages,
    written() {
      for (const m of moved) committed.written(m.topic, m.partition, m.sensors);
    },
  };
}

/**
 * `kafka.stateTopic`: the committed decision state of every sensor (see {@link CommittedDecisions})
 * written to a compacted topic before each commit, and read back when a partition is newly owned.
 * A sensor's record names the committed offset it stands for; one past the partition's committed
 * offset was written for a commit that did not happen (the process died, or lost the partition,
 * in between) and is not taken: that sensor starts afresh.
 */
export function decisionCheckpoints(args: {
  kafka: Kafka;
  kc: KafkaConfig;
  detection: DetectionConfig;
  detector: AnomalyDetector;
  log: Logger;
  metrics: Pick<AemonMetrics, 'decisionStateRestored'>;
}): DecisionCheckpoints & { close(): Promise<void> } {
  const { kafka, kc, detector, log, metrics } = args;
  const topic = kc.stateTopic;
  const group = kc.groupId;
  const committed = new CommittedDecisions(args.detection, detector);
  const reader = new StateTopicReader(kafka, topic);
  let producer: Producer | undefined;
  let connected: Promise<void> | undefined;
  detector.onModelChanged = (sensor, restored, now) =>
    log.info(
      { sensor, restored, now },
      `${sensor}: its restored decision state was decided with model ${restored}, its windows are now scored with ${now}; it starts afresh`,
    );

  const connect = async (): Promise<Producer> => {
    producer ??= kafka.producer({ allowAutoTopicCreation: false });
    const p = producer;
    connected ??= p.connect().catch((err: unknown) => {
      connected = undefined;
      throw err;
    });
    await connected;
    return p;
  };

  return {
    prepare(offsets: readonly PartitionCommit[]): CheckpointRecords | undefined {
      return checkpointRecords(committed, group, topic, offsets);
    },

    async write(records: CheckpointRecords): Promise<void> {
      const p = await connect();
      for (const chunk of chunkMessages(records.messages, batchBudget(KAFKA_DEFAULT_MAX_BYTES)))
        await p.send({ topic: records.topic, messages: chunk, acks: -1, compression: compressionType(kc.compression) });
    },

    async restore(inTopic: string, partition: number, offset: number): Promise<void> {
      try {
        const { latest, ahead } = latestStates(await reader.records(), { group, topic: inTopic, partition, offset });
        let restored = 0;
        const discarded: string[] = [];
        for (const [sensor, v] of latest) {
          const res = committed.restore(detector, sensor, decodeState(v.state));
          if (res.ok) restored++;
          else discarded.push(`${sensor}: ${res.why}`);
        }
        metrics.decisionStateRestored('restored', restored);
        metrics.decisionStateRestored('discarded', discarded.length + ahead);
        if (restored + discarded.length + ahead > 0)
          log.info(
            { topic: inTopic, partition, committed: offset, restored, discarded: discarded.slice(0, 10), ahead },
            `${inTopic}[${partition}]: decision state of ${restored} sensors restored as of offset ${offset}` +
              (discarded.length > 0 ? `; ${discarded.length} not taken (${discarded.slice(0, 3).join('; ')})` : '') +
              (ahead > 0 ? `; ${ahead} written for a commit that did not happen (those sensors start afresh)` : ''),
          );
      } catch (err) {
        log.warn(
          { err, topic: inTopic, partition },
          `cannot read the decision state of ${inTopic}[${partition}] from ${topic}; its sensors' decisions start afresh: ${(err as Error).message}`,
        );
      }
    },

    revoked(inTopic: string, partition: number): void {
      committed.revoked(inTopic, partition);
    },

    rejoined(): void {
      reader.reset();
    },

    async close(): Promise<void> {
      if (connected) await producer?.disconnect().catch(() => undefined);
    },
  };
}
