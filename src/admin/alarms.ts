import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestUrl, type ExtraRoute } from '../observability/http.js';
import type { Logger } from '../observability/logger.js';
import type { FeedbackVerdict } from '../observability/metrics.js';
import { BodyError, handle, parseJson, readBody, reply } from './server.js';

/**
 * The admin routes about alarms: `POST /suppress` (a maintenance span) and
 * `POST /events/{id}/feedback` (an operator's verdict on an anomaly event). Their collaborators
 * (the detector's suppressor, the feedback desk) belong to other stages and come in as callbacks.
 */

/** A maintenance span as `POST /suppress` takes it. */
export interface AdminSpan {
  sensors: string[] | 'all';
  start: number;
  end: number;
  reason?: string;
}

export interface AlarmRoutesOptions {
  /** Adds a suppressed span; without it `POST /suppress` answers 404. */
  suppress?(span: AdminSpan): void;
  /** Marks event `id`; `undefined` when no such event is remembered (404). */
  feedback?(id: string, verdict: FeedbackVerdict): object | undefined;
  log?: Logger;
  maxBodyBytes?: number;
}

const SPAN_KEYS = new Set(['sensor', 'sensors', 'all', 'start', 'end', 'reason']);

function time(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v === 'string' && v.trim() !== '') return /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.NaN;
}

const isObject = (doc: unknown): doc is Record<string, unknown> =>
  typeof doc === 'object' && doc !== null && !Array.isArray(doc);

/**
 * `{"sensor" | "sensors" | "all": true, "start", "end", "reason"?}` (times ISO-8601 or epoch ms):
 * a span or why not. Never throws.
 */
export function parseSuppressSpan(doc: unknown): AdminSpan | { error: string } {
  if (!isObject(doc)) return { error: 'the body must be an object {"sensors" | "sensor" | "all", "start", "end"}' };
  const unknown = Object.keys(doc).filter((k) => !SPAN_KEYS.has(k));
  if (unknown.length > 0) return { error: `unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')}` };
  const given = ['sensor', 'sensors', 'all'].filter((k) => doc[k] !== undefined);
  if (given.length !== 1) return { error: 'give exactly one of "sensor", "sensors" or "all": true' };
  let sensors: string[] | 'all';
  if (doc.all !== undefined) {
    if (doc.all !== true) return { error: '"all" must be true' };
    sensors = 'all';
  } else if (doc.sensor !== undefined) {
    if (typeof doc.sensor !== 'string' || doc.sensor === '') return { error: '"sensor" must be a non-empty string' };
    sensors = [doc.sensor];
  } else {
    const list = doc.sensors;
    if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s !== ''))
      return { error: '"sensors" must be a non-empty array of sensor ids' };
    sensors = list as string[];
  }
  const start = time(doc.start);
  const end = time(doc.end);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start)
    return { error: '"start" and "end" must be times (ISO-8601 or epoch ms) with start < end' };
  if (doc.reason !== undefined && typeof doc.reason !== 'string') return { error: '"reason" must be a string' };
  return { sensors, start, end, ...(typeof doc.reason === 'string' ? { reason: doc.reason } : {}) };
}

/** `{"verdict": "false_alarm" | "confirmed"}`: the verdict or why not. Never throws. */
export function parseVerdict(doc: unknown): FeedbackVerdict | { error: string } {
  if (!isObject(doc) || Object.keys(doc).some((k) => k !== 'verdict'))
    return { error: 'the body must be {"verdict": "false_alarm" | "confirmed"}' };
  if (doc.verdict !== 'false_alarm' && doc.verdict !== 'confirmed')
    return { error: '"verdict" must be "false_alarm" or "confirmed"' };
  return doc.verdict;
}

/** The event id of `/events/{id}/feedback` (under any prefix, e.g. the live view's `/api`). */
export function feedbackEventId(url: string | undefined): string | undefined {
  const path = requestUrl(url)?.pathname;
  const m = path === undefined ? null : /\/events\/([^/]+)\/feedback$/.exec(path);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
}

/** The handler of `POST /events/{id}/feedback`. */
export function feedbackHandler(
  opts: AlarmRoutesOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const limit = opts.maxBodyBytes ?? 64 * 1024;
  return handle(async (req, res) => {
    const doc = parseJson(await readBody(req, limit));
    if (!opts.feedback) return reply(res, 404, { error: 'feedback is not available here' });
    const id = feedbackEventId(req.url);
    if (id === undefined) throw new BodyError(400, 'the path must be /events/{id}/feedback');
    const verdict = parseVerdict(doc);
    if (typeof verdict === 'object') throw new BodyError(400, verdict.error);
    const result = opts.feedback(id, verdict);
    if (result === undefined)
      return reply(res, 404, { error: `no event ${id} (only recent events can be marked, and only while aemon runs)` });
    opts.log?.info({ event: id, verdict }, `admin: event ${id} marked ${verdict}`);
    reply(res, 200, result);
  });
}

/** The handler of `POST /suppress`. */
export function suppressHandler(
  opts: AlarmRoutesOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const limit = opts.maxBodyBytes ?? 64 * 1024;
  return handle(async (req, res) => {
    const doc = parseJson(await readBody(req, limit));
    if (!opts.suppress) return reply(res, 404, { error: 'suppression is not available here' });
    const span = parseSuppressSpan(doc);
    if ('error' in span) throw new BodyError(400, span.error);
    opts.suppress(span);
    reply(res, 200, {
      suppressed: {
        sensors: span.sensors,
        start: new Date(span.start).toISOString(),
        end: new Date(span.end).toISOString(),
        ...(span.reason !== undefined ? { reason: span.reason } : {}),
      },
    });
  });
}

/** `POST /suppress` and `POST /events/{id}/feedback`, for the admin server's `routes`. */
export function alarmRoutes(opts: AlarmRoutesOptions): ExtraRoute[] {
  return [
    { method: 'POST', path: '/suppress', handler: suppressHandler(opts) },
    { method: 'POST', path: '/events/{id}/feedback', handler: feedbackHandler(opts) },
  ];
}
