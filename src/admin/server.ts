import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AemonError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { serveRoutes, type ExtraRoute, type HttpServer } from '../observability/http.js';

/**
 * The admin HTTP port (docs/operations.md#the-admin-port): operator labels, the model list, rollback and health, all
 * behind a bearer token. Its collaborators (the label store, the model registry) belong to other
 * stages, so they come in as the small shapes below; `aemon run` wires the real ones.
 */

/** A model version as the admin port reports it (the registry's entry). */
export interface AdminModelEntry {
  group: string;
  version: string;
  current: boolean;
}

export interface AdminModels<E extends AdminModelEntry> {
  list(): Promise<E[]>;
  /** Makes `version` (default: the one before the current) current; throws AemonError codes. */
  rollback(group?: string, version?: string): Promise<E>;
}

export interface AdminServerOptions<L, E extends AdminModelEntry> {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Requests must carry `Authorization: Bearer <token>`; an empty token refuses to start. */
  token: string;
  log?: Logger;
  /** One label record as the Kafka labels topic carries it (`parseLabel` of src/training/labels.ts). */
  parseLabel(raw: string): L | { error: string };
  /** Where labels go: the same store the Kafka labels feed fills. */
  labels: { add(label: L): void };
  /** The model registry (model.dir); without one the /models routes answer 404. */
  models?: AdminModels<E>;
  /** After CURRENT moved: swap the running model. If it throws, CURRENT is moved back. */
  onRollback?(entry: E): Promise<void>;
  /** Largest request body accepted (default 1 MiB); bigger is 413. */
  maxBodyBytes?: number;
  /** More routes behind the same token (e.g. alarms.ts: maintenance spans, feedback on events). */
  routes?: readonly ExtraRoute[];
}

const JSON_TYPE = 'application/json; charset=utf-8';
const MiB = 1024 * 1024;

export function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': JSON_TYPE, 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

export const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Constant-time: both sides are hashed to the same length before comparing. */
export function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(.+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!.trim()), expected);
}

export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    throw new BodyError(413, `the body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyError(413, `the body is over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BodyError(400, `the body is not JSON: ${(err as Error).message}`);
  }
}

/** A handler whose BodyError becomes its status and reason; the connection closes after a 413 (the rest is not read). */
export const handle =
  (work: (req: IncomingMessage, res: ServerResponse) => Promise<void>) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await work(req, res);
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      reply(res, err.status, { error: err.message }, err.status === 413 ? { connection: 'close' } : {});
      if (err.status === 413) res.on('finish', () => req.destroy());
    }
  };

const STATUS_BY_CODE: Partial<Record<string, number>> = {
  AEMON_MODEL_NOT_FOUND: 404,
  AEMON_MODEL_ROLLBACK: 409,
  AEMON_MODEL_CHECKSUM: 409,
  AEMON_MODEL_INVALID: 409,
};

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const noRegistry = (res: ServerResponse): void => reply(res, 404, { error: 'no model registry: model.dir is not set' });

/** `POST /labels`: one label object or an array of them, all checked before any is added. */
function labelsHandler<L>(
  parseLabel: (raw: string) => L | { error: string },
  labels: { add(label: L): void },
  limit: number,
  log: Logger | undefined,
): Handler {
  return handle(async (req, res) => {
    const doc = parseJson(await readBody(req, limit));
    const records = Array.isArray(doc) ? doc : [doc];
    if (records.length === 0) throw new BodyError(400, 'no labels: send a label object or a non-empty array of them');
    const parsed: L[] = [];
    records.forEach((record, i) => {
      const where = Array.isArray(doc) ? `labels[${i}]: ` : '';
      if (typeof record !== 'object' || record === null || Array.isArray(record))
        throw new BodyError(400, `${where}a label must be an object {"sensor","from","to","label"}`);
      const label = parseLabel(JSON.stringify(record));
      if (typeof label === 'object' && label !== null && 'error' in label)
        throw new BodyError(400, `${where}${label.error}`);
      parsed.push(label as L);
    });
    for (const label of parsed) labels.add(label);
    log?.info({ added: parsed.length }, `admin: ${parsed.length} label(s) added`);
    reply(res, 200, { added: parsed.length });
  });
}

/** The rollback request's body: an object with at most a non-empty `group` and `version`. */
function rollbackTarget(text: string): { group: string | undefined; version: string | undefined } {
  const doc = text.trim() === '' ? {} : parseJson(text);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new BodyError(400, 'the body must be an object {"group"?, "version"?}');
  const { group, version, ...rest } = doc as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new BodyError(
      400,
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; only "group" and "version"`,
    );
  for (const [name, value] of [
    ['group', group],
    ['version', version],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === ''))
      throw new BodyError(400, `"${name}" must be a non-empty string`);
  }
  return { group: group as string | undefined, version: version as string | undefined };
}

/** `POST /models/rollback`: moves CURRENT, then the running engine; if the engine cannot take it, CURRENT goes back. */
function rollbackHandler<E extends AdminModelEntry>(
  models: AdminModels<E> | undefined,
  onRollback: (entry: E) => Promise<void> | undefined,
  limit: number,
  log: Logger | undefined,
): Handler {
  return handle(async (req, res) => {
    const text = await readBody(req, limit);
    if (!models) return noRegistry(res);
    const { group, version } = rollbackTarget(text);
    const prior = await models.list();
    let entry: E;
    try {
      entry = await models.rollback(group, version);
    } catch (err) {
      const status = err instanceof AemonError ? STATUS_BY_CODE[err.code] : undefined;
      if (status === undefined) throw err;
      return reply(res, status, { error: (err as Error).message, code: (err as AemonError).code });
    }
    const before = prior.find((e) => e.current && e.group === entry.group);
    try {
      await onRollback(entry);
    } catch (err) {
      // The engine could not take the version: CURRENT goes back, so a restart matches what runs.
      let restored = '';
      if (before) {
        restored = await models.rollback(entry.group, before.version).then(
          () => `; CURRENT is back at ${before.version}`,
          (e: unknown) => `; CURRENT could not be moved back to ${before.version}: ${(e as Error).message}`,
        );
      }
      log?.error(
        { err, group: entry.group, version: entry.version },
        `admin: rollback to ${entry.version} failed in the running engine`,
      );
      return reply(res, 500, {
        error: `the running engine could not switch to ${entry.version}: ${(err as Error).message}${restored}`,
      });
    }
    log?.info(
      { group: entry.group, from: before?.version, to: entry.version },
      `admin: [${entry.group}] rolled back to ${entry.version}`,
    );
    reply(res, 200, { rolledBack: { group: entry.group, from: before?.version ?? null, to: entry.version }, entry });
  });
}

/** Lets through requests with the bearer token; answers 401 to the others, and logs them. */
function bearerGuard(
  expected: Buffer,
  log: Logger | undefined,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (tokenMatches(req.headers.authorization, expected)) return true;
    log?.warn(
      { method: req.method, path: req.url, remote: req.socket.remoteAddress },
      'admin: request without a valid bearer token refused',
    );
    reply(
      res,
      401,
      { error: 'a valid bearer token is required (Authorization: Bearer <admin.token>)' },
      { 'www-authenticate': 'Bearer realm="aemon"' },
    );
    return false;
  };
}

/** Starts the admin port; refuses (AEMON_CONFIG_INVALID) without a token. */
export function startAdminServer<L, E extends AdminModelEntry>(options: AdminServerOptions<L, E>): Promise<HttpServer> {
  const { log, labels, models } = options;
  if (options.token.trim() === '') {
    return Promise.reject(
      new AemonError('AEMON_CONFIG_INVALID', 'the admin port needs a bearer token (admin.token or AEMON_ADMIN_TOKEN)', {
        stage: 'startup',
      }),
    );
  }
  const expected = digest(options.token.trim());
  const limit = options.maxBodyBytes ?? MiB;
  const getModels = handle(async (_req, res) => {
    if (!models) return noRegistry(res);
    reply(res, 200, await models.list());
  });

  return serveRoutes({
    host: options.host,
    port: options.port,
    setting: 'admin',
    ...(log ? { log } : {}),
    guard: bearerGuard(expected, log),
    routes: [
      { method: 'GET', path: '/healthz', handler: (_req, res) => reply(res, 200, { status: 'ok' }) },
      { method: 'POST', path: '/labels', handler: labelsHandler((raw) => options.parseLabel(raw), labels, limit, log) },
      { method: 'GET', path: '/models', handler: getModels },
      {
        method: 'POST',
        path: '/models/rollback',
        handler: rollbackHandler(models, (entry) => options.onRollback?.(entry), limit, log),
      },
      ...(options.routes ?? []),
    ],
  });
}
