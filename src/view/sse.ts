import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestUrl } from '../observability/http.js';
import type { SensorLatent } from './latent.js';
import type { LiveView } from './live.js';

export interface SseOptions {
  /** Updates are coalesced and sent at most this often (per client: one or two messages). */
  intervalMs?: number;
  /** A comment line keeps idle connections (and proxies) open. */
  heartbeatMs?: number;
  /** Connections at most; more get 503. */
  maxClients?: number;
}

interface Client {
  res: ServerResponse;
  /** The sensor whose points this client follows, and how far it has them. */
  sensor: string | undefined;
  since: number;
  /** The model whose latent sample this client was sent: it is sent again only when the sensor's model changes. */
  space: string | undefined;
}

/**
 * Server-Sent Events for the live view (`GET /events[?sensor=id]`). On connect: a `fleet`
 * snapshot (and a `sensor` snapshot when one is followed). Then, on a timer and only when
 * something changed: `fleet-delta` (summaries of the sensors written to, new events) and
 * `points` (the followed sensor's new points, and with them its new windows in the latent
 * space). So a client gets at most two messages per interval however many sensors the pipeline
 * writes: no storm at 1,000 sensors.
 */
export class SseHub {
  private readonly clients = new Set<Client>();
  private readonly timer: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxClients: number;

  constructor(
    private readonly live: LiveView,
    opts: SseOptions = {},
  ) {
    this.maxClients = opts.maxClients ?? 64;
    this.timer = setInterval(() => this.flush(), opts.intervalMs ?? 500).unref();
    this.heartbeat = setInterval(
      () => this.each((c) => c.res.write(': keep-alive\n\n')),
      opts.heartbeatMs ?? 15_000,
    ).unref();
  }

  /** Connected clients. */
  get size(): number {
    return this.clients.size;
  }

  /** The `GET /events` handler. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.clients.size >= this.maxClients) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' });
      res.end('too many live-view connections\n');
      return;
    }
    const sensor = requestUrl(req.url)?.searchParams.get('sensor') ?? undefined;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A dropped connection comes back by itself (EventSource) after this many ms.
    res.write('retry: 2000\n\n');
    const client: Client = { res, sensor, since: 0, space: undefined };
    send(res, 'fleet', this.live.fleet());
    if (sensor !== undefined) {
      const detail = this.live.sensor(sensor);
      if (detail) {
        client.since = detail.points.total;
        if (detail.latent?.sample) client.space = detail.latent.modelVersion;
        send(res, 'sensor', detail);
      }
    }
    this.clients.add(client);
    const drop = (): void => {
      this.clients.delete(client);
    };
    req.on('close', drop);
    res.on('error', drop);
  };

  /** Ends every stream and stops the timers. */
  close(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.each((c) => c.res.end());
    this.clients.clear();
  }

  /** Sends what changed since the last flush; runs on the timer, callable from tests. */
  flush(): void {
    const changes = this.live.takeChanges();
    if (this.clients.size === 0 || (changes.sensors.length === 0 && changes.events.length === 0)) return;
    const delta = {
      sensors: changes.sensors.map((id) => this.live.summary(id)).filter((s) => s !== undefined),
      events: changes.events,
      modelVersions: this.live.modelVersions(),
      untracked: this.live.untrackedCount(),
    };
    const changed = new Set(changes.sensors);
    const frame = frameOf('fleet-delta', delta);
    this.each((c) => {
      c.res.write(frame);
      if (c.sensor === undefined || !changed.has(c.sensor)) return;
      const detail = this.live.sensor(c.sensor, c.since);
      if (!detail) return;
      if (c.since === 0) send(c.res, 'sensor', detail);
      else {
        const latent = detail.latent && newLatent(detail.latent, c.space);
        send(c.res, 'points', {
          id: c.sensor,
          shares: detail.shares,
          state: detail.state,
          modelVersion: detail.modelVersion,
          points: detail.points,
          ...(latent ? { latent } : {}),
        });
      }
      c.since = detail.points.total;
      if (detail.latent?.sample) c.space = detail.latent.modelVersion;
    });
  }

  private each(fn: (c: Client) => void): void {
    for (const c of this.clients) {
      if (c.res.writableEnded || c.res.destroyed) this.clients.delete(c);
      else fn(c);
    }
  }
}

/**
 * What a `points` message carries of the latent scatter: the new windows, and the model's sample
 * only when the client does not have that model's yet (it is the same for every update).
 * `undefined` when there is nothing new.
 */
function newLatent(latent: SensorLatent, space: string | undefined): SensorLatent | undefined {
  if (latent.modelVersion !== space) return latent;
  if (latent.ts.length === 0) return undefined;
  const points: SensorLatent = { ...latent };
  delete points.sample;
  delete points.explained;
  return points;
}

function frameOf(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(frameOf(event, data));
}
