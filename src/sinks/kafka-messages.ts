import { createHash } from 'node:crypto';
import type { IHeaders, Message } from 'kafkajs';
import type { AnomalyEvent, DecidedWindow, Rejection } from '../pipeline/contracts.js';
import type { AnomalyRecord, ScoreRecord } from './message-schema.js';
import { latentJson, roundNumber } from './scores.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** The `aemon.anomalies` record of an event (value JSON; key = sensor). */
export function anomalyMessage(e: AnomalyEvent): Message {
  const value: AnomalyRecord = {
    id: e.id,
    kind: e.kind,
    sensor: e.sensor,
    group: e.group,
    start: iso(e.start)!,
    end: iso(e.end),
    peakScore: e.peakScore,
    severity: e.severity,
    topChannels: e.topChannels.map((c) => ({ ...c })),
    modelVersion: e.modelVersion,
  };
  return { key: e.sensor, value: JSON.stringify(value), headers: { 'aemon.event': e.kind, 'aemon.id': e.id } };
}

/** The `aemon.scores` record of a scored window; its id is deterministic (`sensor@endTs`). */
export function scoreMessage(ws: DecidedWindow, anomaly: boolean): Message {
  const channels: Record<string, number> = {};
  ws.window.channels.forEach((c, i) => (channels[c] = roundNumber(ws.channelShares[i]!)));
  const { verdict } = ws;
  const value: ScoreRecord = {
    id: ws.window.id,
    sensor: ws.window.sensor,
    start: iso(ws.window.start)!,
    end: iso(ws.window.end)!,
    score: roundNumber(verdict.score),
    rawScore: roundNumber(ws.score),
    error: roundNumber(ws.error),
    threshold: verdict.threshold === null ? null : roundNumber(verdict.threshold),
    anomaly,
    severity: verdict.severity,
    channels,
    topChannels: verdict.topChannels.map((c) => ({ ...c })),
    modelVersion: ws.modelVersion,
    ...(ws.latent ? { latent: latentJson(ws.latent) } : {}),
  };
  return { key: ws.window.sensor, value: JSON.stringify(value) };
}

/**
 * The `aemon.dlq` record: the original bytes and key, with the reason and origin as headers, and
 * the original's size and SHA-256 (so a record truncated to fit the topic still names it).
 */
export function dlqMessage(r: Rejection): Message {
  const raw =
    typeof r.raw === 'string' ? Buffer.from(r.raw) : Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength);
  const headers: IHeaders = { 'aemon.reason': r.reason, 'aemon.detail': r.detail.slice(0, 1000) };
  if (r.origin.topic !== undefined) headers['aemon.source.topic'] = r.origin.topic;
  if (r.origin.partition !== undefined) headers['aemon.source.partition'] = String(r.origin.partition);
  if (r.origin.offset !== undefined) headers['aemon.source.offset'] = r.origin.offset;
  if (r.origin.file !== undefined) headers['aemon.source.file'] = `${r.origin.file}:${r.origin.line ?? ''}`;
  headers['aemon.original.size'] = String(raw.length);
  headers['aemon.original.sha256'] = createHash('sha256').update(raw).digest('hex');
  return { key: r.key ?? r.sensor ?? null, value: typeof r.raw === 'string' ? r.raw : Buffer.from(r.raw), headers };
}
