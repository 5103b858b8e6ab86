import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { Registry } from 'prom-client';
import { startHttpServer } from '../../src/observability/http.js';
import type { PipelineOutput, SuppressReason } from '../../src/pipeline/contracts.js';
import type { LatentSpace } from '../../src/pipeline/latent.js';
import type { SensorDetail } from '../../src/view/live.js';
import { createLiveView } from '../../src/view/routes.js';
import { ROOT } from '../cli/run.js';
import { reading, scoredOutput } from '../sinks/fixtures.js';
import { launchChromium, problems, sameColour, scatterPixels, screenshot, uncovered, until } from './browser.js';

// A fast demo (as test/cli/demo.test.ts): short bootstrap, few epochs, event time 40× the wall clock.
const ENV = {
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '8',
  AEMON_SIMULATOR_SPEEDUP: '40',
  AEMON_SIMULATOR_QUIET_SECONDS: '400',
  AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
};

let demo: ChildProcess | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL');
});

/** Starts a real `aemon demo` on a free port; resolves with the live view's URL once it is served. */
function startDemo(): Promise<{ url: string; log: () => string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/index.ts'),
      'demo',
      '--duration',
      '120s',
      '--sensors',
      '3',
      '--seed',
      '3',
      '--port',
      '0',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  demo = child;
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^live view: (http:\/\/\S+\/)$/m.exec(out);
      if (m) resolve({ url: m[1]!, log: () => out });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => reject(new Error(`demo exited (${code}) before serving the live view:\n${out}`)));
  });
}

test('the live view on a running demo: sensor list, keyboard selection, a sensor chart that grows, no console errors', async (t) => {
  browser = await launchChromium();
  const { url, log } = await startDemo();
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const seen = problems(page);
  await page.goto(url);

  // The fleet: three sensors, and (once the model is trained) scoring with sparklines.
  // (Page code as strings: this project compiles without the DOM types, and tsx's helpers do not exist in the page.)
  await until('three sensors listed', async () => (await page.locator('#fleet button.sensor').count()) === 3, 30_000);
  await page.waitForSelector(
    '#fleet button.sensor[data-state="scoring"], #fleet button.sensor[data-state="anomalous"]',
    { timeout: 90_000 },
  );
  const ids = await Promise.all(
    (await page.locator('#fleet button.sensor').all()).map((b) => b.getAttribute('data-id')),
  );
  assert.deepEqual(ids, ['sensor-1', 'sensor-2', 'sensor-3']);
  assert.match((await page.textContent('#backend')) ?? '', /backend (wasm|tensorflow|cpu) · model m-/);
  assert.equal(await page.textContent('#conn'), 'live');
  await screenshot(page, 'fleet-view.png');

  // Keyboard: focus the first sensor, ↓ moves to the second, Enter opens it.
  await page.focus('#fleet button.sensor[data-id="sensor-1"]');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate('document.activeElement.dataset.id'), 'sensor-2');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#detail[data-sensor="sensor-2"]', { timeout: 10_000 });
  assert.equal(await page.getAttribute('#fleet button.sensor[data-id="sensor-2"]', 'aria-pressed'), 'true');
  // Four channels (the simulator's), each a chart of reading and reconstruction, plus the score chart.
  assert.equal(await page.locator('#channel-charts .uplot').count(), 4);
  assert.equal(await page.locator('#score-chart .uplot').count(), 1);
  assert.equal(await page.locator('#shares li').count(), 4);
  assert.match((await page.textContent('#detail-meta')) ?? '', /model m-\w+ · backend (wasm|tensorflow|cpu)/);

  // New points arrive by the event stream, with no reload: the chart's data grows within seconds.
  const before = (await page.evaluate(
    `(() => { const d = window.aemonLive.detail(); return { total: d.total, last: d.ts[d.ts.length - 1], drawn: window.aemonLive.charts()[1].data[0].length }; })()`,
  )) as { total: number; last: number; drawn: number };
  await until(
    'new points of sensor-2',
    async () => Number(await page.getAttribute('#detail', 'data-total')) > before.total + 2,
    10_000,
  );
  const later = (await page.evaluate(`(() => {
    const d = window.aemonLive.detail();
    const u = window.aemonLive.charts()[1];
    return { total: d.total, last: d.ts[d.ts.length - 1], drawnLast: u.data[0][u.data[0].length - 1], recon: u.data[2].filter((v) => v !== null).length };
  })()`)) as { total: number; last: number; drawnLast: number; recon: number };
  assert.ok(later.last > before.last, 'newer readings arrived');
  assert.equal(later.drawnLast, later.last, 'the chart draws the newest reading');
  assert.ok(later.recon > 0, "the model's reconstruction is drawn over the channel");
  t.diagnostic(`sensor-2: ${before.total} → ${later.total} points, ${later.recon} with a reconstruction`);
  await screenshot(page, 'sensor-view.png');

  // The demo places each window in the latent space: the sensor's windows over its model's training sample.
  await until(
    "sensor-2's latent scatter",
    async () =>
      (await page.evaluate(
        `(() => { const l = window.aemonLive.detail().latent; return Boolean(l && l.x.length >= 10 && l.sample && !document.getElementById('latent').hidden); })()`,
      )) as boolean,
    20_000,
  );
  const layers = await scatterPixels(page, 'window.aemonLive.scatter()');
  const latent = (await page.evaluate('window.aemonLive.detail().latent')) as NonNullable<SensorDetail['latent']>;
  const server = (await (await fetch(`${url}api/sensor?id=sensor-2`)).json()) as SensorDetail;
  assert.equal(latent.modelVersion, server.modelVersion, "the windows are in the sensor's own model's space");
  assert.ok(server.latent?.sample && server.latent.sample.length > 0, 'the server sends the training sample');
  assert.deepEqual(latent.sample, server.latent.sample, "the page draws that model's sample");
  const byName = Object.fromEntries(layers.map((l) => [l.name, l]));
  assert.equal(byName.sample?.points.length, server.latent.sample.length, 'every training-sample point is drawn');
  const windows = ['normal', 'suppressed', 'anomalous'].reduce((n, k) => n + byName[k]!.points.length, 0);
  assert.equal(windows, latent.x.length, "every one of the sensor's windows is drawn");
  assert.ok(windows >= 10);
  // What the user sees: grey training windows behind, the sensor's windows in their state's colour, the newest ringed.
  const greys = uncovered(layers, 0);
  assert.ok(greys.length > 0, 'some training windows are not hidden behind the sensor’s');
  assert.ok(
    greys.filter((p) => sameColour(p.rgba, byName.sample!.rgba)).length >= 0.9 * greys.length,
    `training windows drawn grey: ${JSON.stringify(greys.slice(0, 3))}`,
  );
  const normals = uncovered(layers, 1);
  assert.ok(normals.length > 0);
  assert.ok(
    normals.filter((p) => sameColour(p.rgba, byName.normal!.rgba)).length >= 0.9 * normals.length,
    'normal windows drawn in the normal colour',
  );
  const newest = byName.newest!.points;
  assert.equal(newest.length, 1);
  assert.deepEqual([newest[0]!.x, newest[0]!.y], [latent.x.at(-1), latent.y.at(-1)], 'the newest window is ringed');
  assert.ok(sameColour(newest[0]!.rgba, byName.newest!.rgba), 'the ring is drawn');
  assert.match(
    (await page.getAttribute('#latent-chart canvas', 'aria-label')) ?? '',
    /PC 1 \(\d+ %\) across, PC 2 \(\d+ %\) up: \d+ recent windows/,
  );
  const pc1 = Math.round(server.latent.explained![0] * 100);
  assert.match(
    (await page.getAttribute('#latent-chart canvas', 'aria-label')) ?? '',
    new RegExp(`PC 1 \\(${pc1} %\\)`),
  );
  await page.locator('#latent').scrollIntoViewIfNeeded();
  await screenshot(page, 'latent-space.png');

  // The page's own JSON endpoints say the same, and nothing on the page went wrong.
  const fleet = (await (await fetch(`${url}api/fleet`)).json()) as { sensors: Array<{ id: string }> };
  assert.deepEqual(
    fleet.sensors.map((s) => s.id),
    ['sensor-1', 'sensor-2', 'sensor-3'],
  );
  assert.equal((await fetch(`${url}api/sensor?id=nope`)).status, 404);
  assert.deepEqual(seen, [], log());
  await page.close();
});

/** A latent space whose training sample is a ring of 24 points around (0, −4), away from the sensor's windows. */
const SPACE: LatentSpace = {
  size: 2,
  mean: [0, 0],
  components: [
    [1, 0],
    [0, 1],
  ],
  explained: [0.62, 0.21],
  precision: [1, 0, 0, 1],
  scale: 1,
  sample: Array.from({ length: 24 }, (_v, i): [number, number] => [
    3 * Math.cos((i * Math.PI) / 12),
    -4 + 1.5 * Math.sin((i * Math.PI) / 12),
  ]),
};

/** One window of one reading ending at `i`, with a latent point unless `at` is omitted. */
function windowAt(
  sensor: string,
  i: number,
  at?: [number, number],
  state: { anomaly?: boolean; suppressed?: SuppressReason } = {},
): PipelineOutput {
  const out = scoredOutput([reading(sensor, i, { a: Math.sin(i / 5), b: 1 })], ['a', 'b'], {
    score: state.anomaly ? 1.8 : 0.4,
    threshold: 1,
    shares: [0.6, 0.4],
    anomaly: state.anomaly ?? false,
  });
  if (out.kind !== 'scored') throw new Error('a scored output');
  const row = out.rows[0]!;
  return {
    ...out,
    rows: [
      {
        ...row,
        ...(state.suppressed ? { suppressed: state.suppressed } : {}),
        ...(at ? { latent: { x: at[0], y: at[1], distance: Math.hypot(...at) / 4, code: Float32Array.from(at) } } : {}),
      },
    ],
  };
}

test('the live page draws the latent scatter only for a sensor with latent data: states in their colours, updates streamed, no empty panel otherwise', async () => {
  browser ??= await launchChromium();
  const view = createLiveView({
    backend: 'cpu',
    maxSensors: 10,
    staleAfterMs: 3_600_000,
    intervalMs: 3_600_000,
    latentSpace: (v) => (v === 'v1' ? SPACE : undefined),
  });
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    ready: () => true,
    extraRoutes: view.routes,
  });
  try {
    // "plain": scored without scoring.latent. "mapped": 40 windows along y = 2 (normal), with 4
    // anomalous ones far right and 3 suppressed far left, each apart from the others.
    const outputs: PipelineOutput[] = [];
    for (let i = 0; i < 40; i++) outputs.push(windowAt('plain', i));
    for (let i = 0; i < 40; i++) {
      const anomaly = i >= 30 && i < 34;
      const suppressed = i >= 10 && i < 13;
      const at: [number, number] = anomaly
        ? [8, (i - 30) * 1.2]
        : suppressed
          ? [-8, (i - 10) * 1.2]
          : [-5 + i * 0.25, 2];
      outputs.push(windowAt('mapped', i, at, { anomaly, ...(suppressed ? { suppressed: 'maintenance' } : {}) }));
    }
    await view.sink.write(outputs);

    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    const seen = problems(page);
    await page.goto(`${server.url}/#sensor=plain`);
    await page.waitForSelector('#detail[data-sensor="plain"]', { timeout: 10_000 });
    assert.equal(await page.locator('#channel-charts .uplot').count(), 2, 'the sensor is drawn');
    assert.equal(await page.isHidden('#latent'), true, 'no latent panel without latent data');
    assert.equal(await page.locator('#latent canvas').count(), 0, 'and no scatter in it');
    assert.equal(await page.evaluate('window.aemonLive.scatter()'), null);

    await page.click('#fleet button.sensor[data-id="mapped"]');
    await page.waitForSelector('#latent:not([hidden]) #latent-chart canvas', { timeout: 10_000 });
    const layers = await scatterPixels(page, 'window.aemonLive.scatter()');
    const byName = Object.fromEntries(layers.map((l, i) => [l.name, { ...l, index: i }]));
    assert.deepEqual(
      layers.map((l) => [l.name, l.points.length]),
      [
        ['sample', 24],
        ['normal', 33],
        ['suppressed', 3],
        ['anomalous', 4],
        ['newest', 1],
      ],
    );
    // Each point shows its layer's colour, and the states' colours are the page's own.
    const css = (await page.evaluate(`(() => {
      const css = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
      return { anomalous: css('--latent-anomalous'), stateAnomalous: css('--state-anomalous'), normal: css('--latent-normal'), scoring: css('--state-scoring') };
    })()`)) as Record<string, string>;
    assert.equal(css.anomalous, css.stateAnomalous, "anomalous windows in the page's anomalous colour");
    assert.equal(css.normal, css.scoring);
    for (const name of ['sample', 'normal', 'suppressed', 'anomalous']) {
      const l = byName[name]!;
      const visible = uncovered(layers, l.index);
      assert.ok(visible.length >= l.points.length - 3, `${name}: ${visible.length} of ${l.points.length} uncovered`);
      for (const p of visible)
        assert.ok(
          sameColour(p.rgba, l.rgba),
          `${name} point at ${p.x},${p.y}: ${p.rgba.join(',')} not ${l.rgba.join(',')}`,
        );
    }
    const distinct = new Set(['sample', 'normal', 'suppressed', 'anomalous'].map((n) => byName[n]!.rgba.join(',')));
    assert.equal(distinct.size, 4, 'four distinguishable colours');
    assert.ok(sameColour(byName.newest!.points[0]!.rgba, byName.newest!.rgba), 'the newest window is ringed');
    assert.deepEqual([byName.newest!.points[0]!.x, byName.newest!.points[0]!.y], [-5 + 39 * 0.25, 2]);
    const label = (await page.getAttribute('#latent-chart canvas', 'aria-label')) ?? '';
    assert.match(
      label,
      /PC 1 \(62 %\) across, PC 2 \(21 %\) up: 40 recent windows \(4 anomalous, 3 suppressed\) over 24 training windows/,
    );
    assert.match((await page.textContent('#latent-meta')) ?? '', /newest window at latent distance/);

    // New windows come by the event stream: the newest ring moves to the latest, an anomalous one.
    await view.sink.write([windowAt('mapped', 40, [9, -3], { anomaly: true })]);
    view.flush();
    await until(
      'the new window on the scatter',
      async () => (await page.evaluate('window.aemonLive.detail().latent.x.length')) === 41,
      5_000,
    );
    const later = await scatterPixels(page, 'window.aemonLive.scatter()');
    const newest = later.find((l) => l.name === 'newest')!.points[0]!;
    assert.deepEqual([newest.x, newest.y], [9, -3]);
    assert.equal(later.find((l) => l.name === 'anomalous')!.points.length, 5);

    // Back to the sensor without latent data: the panel goes, nothing of the other sensor stays.
    await page.click('#fleet button.sensor[data-id="plain"]');
    await page.waitForSelector('#detail[data-sensor="plain"]', { timeout: 10_000 });
    assert.equal(await page.isHidden('#latent'), true);
    assert.equal(await page.locator('#latent canvas').count(), 0);
    assert.deepEqual(seen, []);
    await page.close();
  } finally {
    view.close();
    await server.close();
  }
});
