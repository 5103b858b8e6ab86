import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestUrl } from '../observability/http.js';
import { DEFAULT_LATENT_CAPACITY } from './latent.js';
import { DEFAULT_CAPACITY, LiveView, type LiveViewOptions } from './live.js';
import { livePage } from './page.js';
import { SseHub, type SseOptions } from './sse.js';

/** A GET route for the HTTP server's `extraRoutes` (same shape as its ExtraRoute). */
export interface ViewRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * The live view's routes: `GET /` (the page), `/api/fleet`, `/api/sensor?id=…` (snapshots as
 * JSON) and `/events` (Server-Sent Events), all read-only; and with `feedback` (the admin token set)
 * `POST /api/events/{id}/feedback`, the one that changes something, behind that token.
 */
export function liveRoutes(
  live: LiveView,
  hub: SseHub,
  capacity: number,
  feedback?: ViewRoute['handler'],
  latentCapacity = DEFAULT_LATENT_CAPACITY,
): ViewRoute[] {
  return [
    {
      method: 'GET',
      path: '/',
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(livePage(capacity, feedback !== undefined, latentCapacity));
      },
    },
    { method: 'GET', path: '/api/fleet', handler: (_req, res) => json(res, 200, live.fleet()) },
    {
      method: 'GET',
      path: '/api/sensor',
      handler: (req, res) => {
        const id = requestUrl(req.url)?.searchParams.get('id');
        if (id == null) return json(res, 400, { error: 'give the sensor as ?id=…' });
        const detail = live.sensor(id);
        return detail ? json(res, 200, detail) : json(res, 404, { error: `no sensor ${id}` });
      },
    },
    { method: 'GET', path: '/events', handler: hub.handle },
    // Marking an event: the page sends the admin token the operator typed in; the handler checks it.
    ...(feedback ? [{ method: 'POST' as const, path: '/api/events/{id}/feedback', handler: feedback }] : []),
  ];
}

/** The live view wired up: its sink (add it to the run's sinks), its routes, and its close. */
export interface LiveViewHandle {
  sink: LiveView;
  routes: ViewRoute[];
  /** Sends what changed now instead of at the next tick (tests). */
  flush(): void;
  /** Ends the event streams and stops their timers. */
  close(): void;
}

/** A live view whose page, snapshots and event stream are served as extra routes of the metrics server. */
export function createLiveView(
  opts: LiveViewOptions & SseOptions & { feedback?: ViewRoute['handler'] | undefined },
): LiveViewHandle {
  const capacity = opts.capacity ?? DEFAULT_CAPACITY;
  const latentCapacity = opts.latentCapacity ?? DEFAULT_LATENT_CAPACITY;
  const sink = new LiveView({ ...opts, capacity, latentCapacity });
  const hub = new SseHub(sink, opts);
  return {
    sink,
    routes: liveRoutes(sink, hub, capacity, opts.feedback, latentCapacity),
    flush: () => hub.flush(),
    close: () => hub.close(),
  };
}
