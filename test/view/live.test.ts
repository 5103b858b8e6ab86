import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { ROOT } from '../cli/run.js';
import { launchChromium, problems, screenshot, until } from './browser.js';

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
