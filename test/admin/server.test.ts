import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envOverrides, parseConfig } from '../../src/config/load.js';
import { AemonError } from '../../src/errors.js';
import { ModelRegistry, type RegistryEntry } from '../../src/model/registry.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { startAdminServer } from '../../src/admin/server.js';
import type { HttpServer } from '../../src/observability/http.js';
import { LabelStore, parseLabel, type Label } from '../../src/training/labels.js';
import { untrainedBundles } from '../model/fixtures.js';
import { aemon } from '../cli/run.js';

const TOKEN = 's3cret-admin-token';
const root = mkdtempSync(join(tmpdir(), 'aemon-admin-'));
const models = untrainedBundles();

after(() => {
  rmSync(root, { recursive: true, force: true });
});

const bundle = (seed: number): Promise<ModelBundle> => models.bundle(seed, { trainingWindows: 10 });

interface Started {
  server: HttpServer;
  labels: LabelStore;
  registry: ModelRegistry;
  swapped: RegistryEntry[];
}

async function start(
  t: { after(fn: () => unknown): void },
  name: string,
  opts: { failSwap?: boolean; maxBodyBytes?: number } = {},
): Promise<Started> {
  const labels = new LabelStore();
  const registry = new ModelRegistry({ root: join(root, name), keep: 5 });
  const swapped: RegistryEntry[] = [];
  const server = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    parseLabel: (raw: string) => parseLabel(raw),
    labels,
    models: registry,
    onRollback: async (entry) => {
      if (opts.failSwap) throw new Error('the engine said no');
      swapped.push(entry);
    },
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
  });
  t.after(() => server.close());
  return { server, labels, registry, swapped };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const post = (url: string, body: string, headers: Record<string, string> = auth): Promise<Response> =>
  fetch(url, { method: 'POST', body, headers });
const currentFile = (reg: ModelRegistry): string => readFileSync(join(reg.root, 'a_b_c', 'CURRENT'), 'utf8').trim();

test('every route answers 401 with WWW-Authenticate without the right bearer token', async (t) => {
  const { server, labels } = await start(t, 'auth');
  const cases: Array<[string, RequestInit]> = [
    ['/healthz', {}],
    ['/healthz', { headers: { authorization: 'Bearer wrong' } }],
    ['/healthz', { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } }],
    ['/healthz', { headers: { authorization: `Bearer ${TOKEN}x` } }],
    ['/labels', { method: 'POST', body: '{"sensor":"a","from":1,"to":2,"label":"normal"}' }],
    ['/models', {}],
    ['/models/rollback', { method: 'POST', body: '{}' }],
    ['/no-such-route', {}],
  ];
  for (const [path, init] of cases) {
    const res = await fetch(`${server.url}${path}`, init);
    assert.equal(res.status, 401, `${path} ${JSON.stringify(init.headers)}`);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(((await res.json()) as { error: string }).error, /bearer token is required/);
  }
  assert.equal(labels.size, 0, 'nothing got through');
  const ok = await fetch(`${server.url}/healthz`, { headers: auth });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { status: 'ok' });
});

test('POST /labels adds one label or an array into the LabelStore; bad bodies are 400 with the reason and add nothing', async (t) => {
  const { server, labels } = await start(t, 'labels', { maxBodyBytes: 300 });
  const one = await post(
    `${server.url}/labels`,
    '{"sensor":"pump-7","from":"2026-01-01T00:00:00Z","to":"2026-01-01T01:00:00Z","label":"anomaly"}',
  );
  assert.equal(one.status, 200);
  assert.deepEqual(await one.json(), { added: 1 });
  assert.equal(labels.labelAt('pump-7', Date.parse('2026-01-01T00:30:00Z')), 'anomaly');

  const two = await post(
    `${server.url}/labels`,
    JSON.stringify([
      { sensor: 'a', from: 1000, to: 2000, label: 'normal' },
      { sensor: 'b', from: 1000, to: 2000, label: 'anomaly' },
    ]),
  );
  assert.deepEqual([two.status, await two.json()], [200, { added: 2 }]);
  assert.equal(labels.size, 3);
  assert.equal(labels.labelAt('a', 1500), 'normal');

  const bad: Array<[string, number, RegExp]> = [
    ['{"sensor":', 400, /^the body is not JSON/],
    ['[]', 400, /^no labels/],
    ['"pump"', 400, /a label must be an object/],
    ['{"sensor":"a","from":2,"to":1,"label":"normal"}', 400, /from\/to must be times with from ≤ to/],
    [
      '[{"sensor":"a","from":1,"to":2,"label":"normal"},{"sensor":"b","from":1,"to":2,"label":"odd"}]',
      400,
      /^labels\[1\]: label must be "normal", "anomaly" or "maintenance"/,
    ],
    ['{"from":1,"to":2,"label":"normal"}', 400, /no sensor/],
    [JSON.stringify([{ sensor: 'x'.repeat(400), from: 1, to: 2, label: 'normal' }]), 413, /at most 300 are accepted/],
  ];
  for (const [body, status, reason] of bad) {
    const res = await post(`${server.url}/labels`, body);
    assert.equal(res.status, status, body);
    assert.match(((await res.json()) as { error: string }).error, reason);
  }
  assert.equal(labels.size, 3, 'a bad body adds none of its labels');
});

test('GET /models lists the registry; POST /models/rollback moves CURRENT and swaps the running model', async (t) => {
  const { server, registry, swapped } = await start(t, 'rollback');
  const [b1, b2] = [await bundle(1), await bundle(2)];
  await registry.promote(b1);
  await registry.promote(b2);

  const list = await fetch(`${server.url}/models`, { headers: auth });
  assert.equal(list.status, 200);
  const entries = (await list.json()) as RegistryEntry[];
  assert.deepEqual(
    entries.map((e) => [e.version, e.current]),
    [
      [b2.metadata.version, true],
      [b1.metadata.version, false],
    ],
  );

  const back = await post(`${server.url}/models/rollback`, '');
  assert.equal(back.status, 200);
  assert.deepEqual(((await back.json()) as { rolledBack: unknown }).rolledBack, {
    group: 'a,b,c',
    from: b2.metadata.version,
    to: b1.metadata.version,
  });
  assert.equal(currentFile(registry), b1.metadata.version);
  assert.deepEqual(
    swapped.map((e) => e.version),
    [b1.metadata.version],
  );

  const answers: Array<[string, number, RegExp]> = [
    ['{}', 409, /has no version before/],
    [`{"version":"${b1.metadata.version}"}`, 409, /already the current version/],
    ['{"version":"m-0000000000"}', 404, /no model version m-0000000000/],
    ['{"group":"x,y"}', 404, /no model group \[x,y\]/],
    ['{"grup":"a,b,c"}', 400, /unknown field "grup"/],
    ['{"version":7}', 400, /"version" must be a non-empty string/],
    ['[1]', 400, /must be an object/],
    ['{"version":', 400, /not JSON/],
  ];
  for (const [body, status, reason] of answers) {
    const res = await post(`${server.url}/models/rollback`, body);
    assert.equal(res.status, status, body);
    assert.match(((await res.json()) as { error: string }).error, reason);
  }
  assert.equal(currentFile(registry), b1.metadata.version);
  assert.equal(swapped.length, 1, 'refused rollbacks swap nothing');

  const forward = await post(
    `${server.url}/models/rollback`,
    JSON.stringify({ group: 'a,b,c', version: b2.metadata.version }),
  );
  assert.equal(forward.status, 200);
  assert.equal(currentFile(registry), b2.metadata.version);
});

test('rollback to a tampered version is 409 and keeps CURRENT; an engine that cannot swap gets CURRENT moved back', async (t) => {
  const { server, registry, swapped } = await start(t, 'tampered');
  const [b1, b2, b3] = [await bundle(3), await bundle(4), await bundle(5)];
  await registry.promote(b1);
  await registry.promote(b2);
  const weights = join(registry.root, 'a_b_c', b1.metadata.version, 'weights.bin');
  const bytes = readFileSync(weights);
  bytes[bytes.length >> 1]! ^= 0xff;
  writeFileSync(weights, bytes);
  const res = await post(`${server.url}/models/rollback`, '{}');
  assert.equal(res.status, 409);
  const body = (await res.json()) as { error: string; code: string };
  assert.equal(body.code, 'AEMON_MODEL_CHECKSUM');
  assert.match(
    body.error,
    new RegExp(`weights\\.bin .* does not match its checksum.*${b2.metadata.version} stays current`),
  );
  assert.equal(currentFile(registry), b2.metadata.version);
  assert.equal(swapped.length, 0);

  const failing = await start(t, 'swap-fails', { failSwap: true });
  await failing.registry.promote(b2);
  await failing.registry.promote(b3);
  const refused = await post(`${failing.server.url}/models/rollback`, '{}');
  assert.equal(refused.status, 500);
  assert.match(
    ((await refused.json()) as { error: string }).error,
    new RegExp(
      `could not switch to ${b2.metadata.version}: the engine said no; CURRENT is back at ${b3.metadata.version}`,
    ),
  );
  assert.equal(currentFile(failing.registry), b3.metadata.version);
});

test('the admin port never runs without a token: config, env and start-up refuse it', async () => {
  assert.equal(parseConfig({}).admin.enabled, false, 'off by default');
  assert.throws(
    () => parseConfig({ admin: { enabled: true } }),
    (err: unknown) =>
      err instanceof AemonError &&
      err.code === 'AEMON_CONFIG_INVALID' &&
      /admin\.token: admin\.enabled needs a bearer token/.test(err.message),
  );
  const fromEnv = parseConfig(
    envOverrides({ AEMON_ADMIN_ENABLED: 'true', AEMON_ADMIN_TOKEN: TOKEN, AEMON_ADMIN_PORT: '9999' }),
  );
  assert.deepEqual({ ...fromEnv.admin }, { enabled: true, host: '127.0.0.1', port: 9999, token: TOKEN });
  await assert.rejects(
    startAdminServer({
      host: '127.0.0.1',
      port: 0,
      token: ' ',
      parseLabel: (raw: string) => parseLabel(raw),
      labels: { add: (_l: Label) => {} },
    }),
    (err: unknown) => err instanceof AemonError && err.code === 'AEMON_CONFIG_INVALID',
  );
  const run = await aemon(['run'], { env: { AEMON_ADMIN_ENABLED: 'true', AEMON_ADMIN_TOKEN: '' } });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^aemon: AEMON_CONFIG_INVALID: .*admin\.token: admin\.enabled needs a bearer token/);
});

test('without a registry the /models routes answer 404 with the reason', async (t) => {
  const server = await startAdminServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    parseLabel: (raw: string) => parseLabel(raw),
    labels: new LabelStore(),
  });
  t.after(() => server.close());
  const res = await fetch(`${server.url}/models`, { headers: auth });
  assert.equal(res.status, 404);
  assert.match(((await res.json()) as { error: string }).error, /model\.dir is not set/);
});
