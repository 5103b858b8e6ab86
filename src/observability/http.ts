import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { AemonError } from '../errors.js';
import type { Logger } from './logger.js';

/**
 * The request's URL, or undefined when its target cannot be read as one (`//`, `/\\`: an empty
 * authority). Node hands any request-target through, so a handler must not trust `new URL` on it.
 */
export function requestUrl(url: string | undefined): URL | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A route besides the built-in ones (e.g. a labels API); its path must not be a built-in one. */
export interface ExtraRoute {
  method: string;
  /** Exact path, without query string. */
  path: string;
  handler: RouteHandler;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; the returned `port` is the real one. */
  port: number;
  registry: Registry;
  /** `/readyz` answers 200 while this is true, else 503. */
  ready: () => boolean;
  /** Why the instance is not ready although `ready` holds (a sink failing, a partition stopped): 503 with these lines. */
  problems?: () => readonly string[];
  extraRoutes?: readonly ExtraRoute[];
  log?: Logger;
}

export interface HttpServer {
  url: string;
  port: number;
  /** Stops listening and closes open connections (keep-alive ones too). Idempotent. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';
const BUILT_IN = ['/metrics', '/healthz', '/readyz'];

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': TEXT, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function listenHint(code: string | undefined, setting: string): string {
  if (code === 'EADDRINUSE')
    return ` (address already in use: another aemon? set ${setting}.port / AEMON_${setting.toUpperCase()}_PORT)`;
  if (code === 'EACCES') return ' (permission denied: use a port above 1023)';
  if (code === 'EADDRNOTAVAIL') return ` (no such local address: check ${setting}.host)`;
  return '';
}

/** `GET /metrics`, `/healthz`, `/readyz` (docs/operations.md#http-endpoints) on `host:port`, plus any extra routes. */
export function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { registry, ready } = options;
  const readyz: RouteHandler = (_req, res) => {
    // The problems are listed before a model is ready too: one can be why none is (nothing read).
    const problems = options.problems?.() ?? [];
    if (!ready() || problems.length > 0) return send(res, 503, `not ready\n${problems.map((p) => `${p}\n`).join('')}`);
    send(res, 200, 'ready\n');
  };
  const builtIn: ExtraRoute[] = [
    {
      method: 'GET',
      path: '/metrics',
      handler: async (req, res) => {
        // `?name=a&name=b`: those metric families only (unknown names are left out), for a quick
        // look with curl or a frequent probe, without rendering every sensor's series.
        const names = [...new Set(requestUrl(req.url)?.searchParams.getAll('name') ?? [])];
        let body: string;
        if (names.length === 0) body = await registry.metrics();
        else {
          const known = names.filter((n) => registry.getSingleMetric(n) !== undefined);
          const parts = await Promise.all(known.map((n) => registry.getSingleMetricAsString(n)));
          body = parts.map((p) => `${p}\n`).join('');
        }
        send(res, 200, body, { 'content-type': registry.contentType });
      },
    },
    { method: 'GET', path: '/healthz', handler: (_req, res) => send(res, 200, 'ok\n') },
    { method: 'GET', path: '/readyz', handler: readyz },
  ];
  for (const route of options.extraRoutes ?? []) {
    if (BUILT_IN.includes(route.path)) {
      return Promise.reject(new AemonError('AEMON_INTERNAL', `route ${route.path} is built in`, { stage: 'startup' }));
    }
  }
  return serveRoutes({
    host: options.host,
    port: options.port,
    routes: [...builtIn, ...(options.extraRoutes ?? [])],
    setting: 'metrics',
    ...(options.log ? { log: options.log } : {}),
  });
}

export interface RoutesServerOptions {
  host: string;
  /** 0 picks a free port; the returned `port` is the real one. */
  port: number;
  routes: readonly ExtraRoute[];
  /** The config section naming host and port, for listen errors (`metrics`, `admin`). */
  setting: string;
  /** Runs before routing; returning false means it has answered (e.g. 401). */
  guard?: (req: IncomingMessage, res: ServerResponse) => boolean;
  log?: Logger;
}

/**
 * An HTTP server for exact-path routes — or paths with `{name}` segments, matching any one segment
 * there (the handler reads it from `req.url`): 404 for other paths, 405 (with Allow) for other methods.
 */
export function serveRoutes(options: RoutesServerOptions): Promise<HttpServer> {
  const { host, log } = options;
  const routes = new Map<string, Map<string, RouteHandler>>();
  const patterns: Array<{ re: RegExp; path: string }> = [];
  for (const route of options.routes) {
    const byMethod = routes.get(route.path) ?? new Map<string, RouteHandler>();
    byMethod.set(route.method.toUpperCase(), route.handler);
    if (!routes.has(route.path) && route.path.includes('{')) {
      const re = route.path
        .split('/')
        .map((seg) => (/^\{\w+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
        .join('/');
      patterns.push({ re: new RegExp(`^${re}$`), path: route.path });
    }
    routes.set(route.path, byMethod);
  }

  const server = createServer((req, res) => {
    if (options.guard && !options.guard(req, res)) return;
    const path = requestUrl(req.url)?.pathname;
    if (path === undefined) return send(res, 400, 'bad request path\n');
    const byMethod = routes.get(path) ?? routes.get(patterns.find((p) => p.re.test(path))?.path ?? '');
    if (byMethod === undefined) return send(res, 404, 'not found\n');
    const method = req.method ?? 'GET';
    // HEAD is answered like GET; node drops the body.
    const handler = byMethod.get(method) ?? (method === 'HEAD' ? byMethod.get('GET') : undefined);
    if (handler === undefined) {
      const allow = [...byMethod.keys(), ...(byMethod.has('GET') ? ['HEAD'] : [])].join(', ');
      return send(res, 405, 'method not allowed\n', { allow });
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        log?.error({ err, path }, 'http handler failed');
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
  });

  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${host}:${options.port}`;
      reject(
        new AemonError(
          'AEMON_HTTP',
          `cannot listen on ${where}: ${err.code ?? err.message}${listenHint(err.code, options.setting)}`,
          {
            stage: 'startup',
            cause: err,
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      server.on('error', (err) => log?.error({ err }, 'http server error'));
      const port = (server.address() as AddressInfo).port;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${urlHost}:${port}`,
        port,
        close() {
          closing ??= new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
