import type { IHeaders, Message, Producer, TopicMessages } from 'kafkajs';
import { compressionType } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';
import type { AnomalyEvent, PipelineOutput, Rejection, Sink, WindowScore } from '../pipeline/contracts.js';
import { roundNumber } from './scores.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** The `aemon.anomalies` record of an event (value JSON; key = sensor). */
export function anomalyMessage(e: AnomalyEvent): Message {
  return {
    key: e.sensor,
    value: JSON.stringify({
      id: e.id,
      kind: e.kind,
      sensor: e.sensor,
      group: e.group,
      start: iso(e.start),
      end: iso(e.end),
      peakScore: e.peakScore,
      topChannels: e.topChannels,
      modelVersion: e.modelVersion,
    }),
    headers: { 'aemon.event': e.kind, 'aemon.id': e.id },
  };
}

/** The `aemon.scores` record of a scored window; its id is deterministic (`sensor@endTs`). */
export function scoreMessage(ws: WindowScore, anomaly: boolean): Message {
  const channels: Record<string, number> = {};
  ws.window.channels.forEach((c, i) => (channels[c] = roundNumber(ws.channelShares[i]!)));
  return {
    key: ws.window.sensor,
    value: JSON.stringify({
      id: ws.window.id,
      sensor: ws.window.sensor,
      start: iso(ws.window.start),
      end: iso(ws.window.end),
      score: roundNumber(ws.score),
      error: roundNumber(ws.error),
      threshold: roundNumber(ws.threshold),
      anomaly,
      channels,
      modelVersion: ws.modelVersion,
    }),
  };
}

/** The `aemon.dlq` record: the original bytes and key, with the reason and origin as headers. */
export function dlqMessage(r: Rejection): Message {
  const headers: IHeaders = { 'aemon.reason': r.reason, 'aemon.detail': r.detail.slice(0, 1000) };
  if (r.origin.topic !== undefined) headers['aemon.source.topic'] = r.origin.topic;
  if (r.origin.partition !== undefined) headers['aemon.source.partition'] = String(r.origin.partition);
  if (r.origin.offset !== undefined) headers['aemon.source.offset'] = r.origin.offset;
  if (r.origin.file !== undefined) headers['aemon.source.file'] = `${r.origin.file}:${r.origin.line ?? ''}`;
  return { key: r.key ?? r.sensor ?? null, value: typeof r.raw === 'string' ? r.raw : Buffer.from(r.raw), headers };
}

/**
 * Writes anomaly events, scored windows (when `scoresTopic` is set) and rejections to Kafka with
 * acks from all in-sync replicas, compressed with `kafka.compression`; `write` resolves only when the broker has them, so the runner
 * acks (and commits) after that. A failed DLQ write fails the write: nothing is committed past it.
 */
export function kafkaSink(producer: Producer, cfg: KafkaConfig): Sink {
  let connected: Promise<void> | undefined;
  const compression = compressionType(cfg.compression);
  return {
    name: 'kafka',
    async write(outputs: readonly PipelineOutput[]) {
      const anomalies: Message[] = [];
      const scores: Message[] = [];
      const dlq: Message[] = [];
      for (const o of outputs) {
        if (o.kind === 'event') anomalies.push(anomalyMessage(o.event));
        else if (o.kind === 'rejected') dlq.push(dlqMessage(o));
        else if (o.window && cfg.scoresTopic !== '') scores.push(scoreMessage(o.window, o.rows.at(-1)?.anomaly ?? false));
      }
      const topicMessages: TopicMessages[] = [];
      if (anomalies.length > 0) topicMessages.push({ topic: cfg.anomaliesTopic, messages: anomalies });
      if (scores.length > 0) topicMessages.push({ topic: cfg.scoresTopic, messages: scores });
      if (dlq.length > 0) topicMessages.push({ topic: cfg.dlqTopic, messages: dlq });
      if (topicMessages.length === 0) return;
      connected ??= producer.connect();
      try {
        await connected;
        await producer.sendBatch({ topicMessages, acks: -1, compression });
      } catch (cause) {
        throw new AemonError('AEMON_SINK_WRITE', `kafka write to ${topicMessages.map((t) => t.topic).join(', ')} failed: ${(cause as Error).message}`, {
          stage: 'sink',
          retryable: true,
          cause,
        });
      }
    },
    async close() {
      if (connected) await producer.disconnect();
    },
  };
}
