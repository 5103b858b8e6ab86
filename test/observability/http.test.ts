import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { requestUrl, startHttpServer } from '../../src/observability/http.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { AemonError } from '../../src/errors.js';
import { parseExposition, sampleValue } from '../observability/exposition.js';

const HOST = '127.0.0.1';

test('GET /metrics, /healthz and /readyz; other paths 404, other methods 405', async (t) => {
  const registry = new Registry();
  const metrics = createMetrics(registry, { maxSensors: 10 });
  metrics.windowsScored(7);
  let ready = false;
  let problems: string[] = [];
  const server = await startHttpServer({ host: HOST, port: 0, registry, ready: () => ready, problems: () => problems });
  t.after(() => server.close());
  assert.ok(server.port > 0, 'an ephemeral port was picked');
  assert.equal(server.url, `http://${HOST}:${server.port}`);

  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), registry.contentType);
  assert.equal(sampleValue(parseExposition(await res.text()), 'aemon_windows_scored_total'), 7);

  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal((await health.text()).trim(), 'ok');

  assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
  ready = true;
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  problems = ['partition sensors[1] stopped: refused', 'sink kafka failing, retrying: timeout'];
  const notReady = await fetch(`${server.url}/readyz`);
  assert.equal(notReady.status, 503);
  assert.equal(await notReady.text(), `not ready\n${problems.join('\n')}\n`);
  problems = [];
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);

  const missing = await fetch(`${server.url}/nope`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.body?.cancel();
  const head = await fetch(`${server.url}/metrics?x=1`, { method: 'HEAD' });
  assert.equal(head.status, 200, 'HEAD and query strings are fine');
});

test('GET /metrics?name= gives the named metric families only, each once; unknown names are left out', async (t) => {
  const registry = new Registry();
  const metrics = createMetrics(registry, { maxSensors: 10 });
  metrics.windowsScored(7);
  const server = await startHttpServer({ host: HOST, port: 0, registry, ready: () => true });
  t.after(() => server.close());
  const all = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
  assert.ok(all.size > 2, `the whole scrape has many families (${all.size})`);

  const names = [
    'aemon_windows_scored_total',
    'no_such_metric',
    'aemon_windows_scored_total',
    'process_cpu_user_seconds_total',
  ];
  const res = await fetch(`${server.url}/metrics?${names.map((n) => `name=${n}`).join('&')}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), registry.contentType);
  const text = await res.text();
  const some = parseExposition(text);
  assert.deepEqual([...some.keys()].sort(), ['aemon_windows_scored_total', 'process_cpu_user_seconds_total']);
  assert.equal(sampleValue(some, 'aemon_windows_scored_total'), 7);
  assert.equal(text.match(/^# TYPE aemon_windows_scored_total /gm)?.length, 1, 'a name asked for twice comes once');
  assert.ok(text.endsWith('\n'));

  const none = await fetch(`${server.url}/metrics?name=no_such_metric`);
  assert.equal(none.status, 200);
  assert.equal(await none.text(), '');
});

test('extra routes are served; a failing handler answers 500 and the server goes on', async (t) => {
  const registry = new Registry();
  const labels: string[] = [];
  const server = await startHttpServer({
    host: HOST,
    port: 0,
    registry,
    ready: () => true,
    extraRoutes: [
      {
        method: 'POST',
        path: '/labels',
        handler: async (req, res) => {
          let body = '';
          for await (const chunk of req) body += String(chunk);
          labels.push(body);
          res.writeHead(202).end();
        },
      },
      { method: 'GET', path: '/boom', handler: () => Promise.reject(new Error('boom')) },
    ],
  });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/labels`, { method: 'POST', body: '{"sensor":"a"}' });
  assert.equal(res.status, 202);
  assert.deepEqual(labels, ['{"sensor":"a"}']);
  const boom = await fetch(`${server.url}/boom`);
  assert.equal(boom.status, 500);
  await boom.body?.cancel();
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test('a port in use is a clear start-up error', async (t) => {
  const registry = new Registry();
  const first = await startHttpServer({ host: HOST, port: 0, registry, ready: () => true });
  t.after(() => first.close());
  await assert.rejects(
    startHttpServer({ host: HOST, port: first.port, registry, ready: () => true }),
    (err: unknown) => {
      assert.ok(err instanceof AemonError);
      assert.equal(err.code, 'AEMON_HTTP');
      assert.equal(err.stage, 'startup');
      assert.match(err.message, new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${first.port}: EADDRINUSE`));
      return true;
    },
  );
});

test('close() ends keep-alive connections and is idempotent', async () => {
  const server = await startHttpServer({ host: HOST, port: 0, registry: new Registry(), ready: () => true });
  await (await fetch(`${server.url}/healthz`)).text();
  await Promise.all([server.close(), server.close()]);
  await assert.rejects(fetch(`${server.url}/healthz`), TypeError, 'nothing listens any more');
});

test('/readyz lists the problems before a model is ready too', async (t) => {
  const server = await startHttpServer({
    host: HOST,
    port: 0,
    registry: new Registry(),
    ready: () => false,
    problems: () => ['a lz4 record batch could not be decompressed'],
  });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/readyz`);
  assert.equal(res.status, 503);
  assert.equal(await res.text(), 'not ready\na lz4 record batch could not be decompressed\n');
});

/** Sends one raw request line and resolves with the status line of the answer. */
function rawRequest(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, HOST, () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
  });
}

test('a request target that is no URL (//, /\\) is a 400, not the end of the process', async (t) => {
  const server = await startHttpServer({ host: HOST, port: 0, registry: new Registry(), ready: () => true });
  t.after(() => server.close());
  assert.equal(await rawRequest(server.port, '//'), 'HTTP/1.1 400 Bad Request');
  assert.equal(await rawRequest(server.port, '/\\'), 'HTTP/1.1 400 Bad Request');
  assert.equal(await rawRequest(server.port, '//healthz'), 'HTTP/1.1 404 Not Found', 'a host-like target is a path');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test('property: any request target gets a status line, and the server answers the next request', async (t) => {
  const server = await startHttpServer({ host: HOST, port: 0, registry: new Registry(), ready: () => true });
  t.after(() => server.close());
  const target = fc.stringMatching(/^[\x21-\x7e]{1,40}$/);
  await fc.assert(
    fc.asyncProperty(target, async (path) => {
      assert.match(await rawRequest(server.port, path), /^HTTP\/1\.1 \d{3} /);
      assert.equal(requestUrl(path) === undefined || requestUrl(path) instanceof URL, true);
    }),
    { numRuns: 60 },
  );
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});
