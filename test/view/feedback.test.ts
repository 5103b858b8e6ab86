import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { ROOT } from '../cli/run.js';
import { launchChromium, problems, screenshot, until } from './browser.js';

const TOKEN = 'feedback-secret';
// A fast demo (as test/view/live.test.ts), with the admin token set (the page may mark events) and
// retraining on but never due (so the normal-data buffer exists and nothing trains meanwhile).
const ENV = {
  AEMON_TRAINING_BOOTSTRAP_READINGS: '200',
  AEMON_MODEL_EPOCHS: '8',
  AEMON_SIMULATOR_SPEEDUP: '40',
  AEMON_SIMULATOR_QUIET_SECONDS: '400',
  AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
  AEMON_ADMIN_TOKEN: TOKEN,
  AEMON_TRAINING_AFTER_WINDOWS: '1000000',
};

let demo: ChildProcess | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL');
});

function startDemo(): Promise<{ url: string; log: () => string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/index.ts'),
      'demo',
      '--duration',
      '180s',
      '--sensors',
      '2',
      '--seed',
      '3',
      '--port',
      '0',
    ],
    { cwd: ROOT, env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
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

test('the live view marks an event a false alarm with the admin token; its windows reach the retraining buffer', async () => {
  browser = await launchChromium();
  const { url, log } = await startDemo();
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const seen = problems(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });

  // Without the token the page offers no verdict buttons; the route refuses a wrong token.
  assert.equal(await page.isVisible('#feedback-token'), true);
  const wrong = await fetch(`${url}api/events/a-0/feedback`, {
    method: 'POST',
    headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
    body: '{"verdict":"false_alarm"}',
  });
  assert.equal(wrong.status, 401);
  await page.fill('#admin-token', TOKEN);
  await page.click('#feedback-token button[type="submit"]');
  assert.equal(await page.textContent('#feedback-status'), 'token set');

  // An anomaly event arrives (the simulator injects them); mark it a false alarm.
  const button = '.events button.verdict[data-verdict="false_alarm"]';
  await page.waitForSelector(button, { timeout: 150_000 });
  const id = await page.getAttribute(button, 'data-event');
  assert.match(id ?? '', /^a-[0-9a-f]{16}$/);
  // An open event is listed under Open only (at the score it opened with); Recent holds closed ones.
  for (const text of await page.locator('#open-events > li').allTextContents())
    assert.match(text, / open · opened at score \d/);
  for (const text of await page.locator('#recent-events > li').allTextContents())
    assert.match(text, / closed( \(suppressed\))? · peak score \d/);
  const ids = (list: string) =>
    page.locator(`${list} > li`).evaluateAll((els) => els.map((e) => e.getAttribute('data-event')));
  const recentIds = new Set(await ids('#recent-events'));
  assert.deepEqual(
    (await ids('#open-events')).filter((e) => recentIds.has(e)),
    [],
    'no event is listed twice',
  );
  await page.click(button);
  const mark = `.events .mark[data-event="${id}"]`;
  await until(
    'the verdict is acknowledged',
    async () => /marked/.test((await page.textContent(mark).catch(() => '')) ?? ''),
    10_000,
  );
  const text = (await page.textContent(mark)) ?? '';
  assert.match(text, /marked false alarm · sensor-\d muted · \d+ of its windows in the normal data/);
  const windows = Number(/(\d+) of its windows/.exec(text)![1]);
  assert.ok(windows > 0, `the event's windows joined the normal-data buffer (${text})`);
  await screenshot(page, 'feedback.png');

  // Counted, and the mark cannot be sent without the token either.
  const metrics = await (await fetch(`${url}metrics`)).text();
  assert.match(metrics, /aemon_feedback_total\{verdict="false_alarm"\} 1\b/);
  assert.match(metrics, /aemon_feedback_total\{verdict="confirmed"\} 0\b/);
  const none = await fetch(`${url}api/events/${id}/feedback`, { method: 'POST', body: '{"verdict":"confirmed"}' });
  assert.equal(none.status, 401);
  assert.deepEqual(seen, [], log());

  // The alert rules' link (`#sensor=…&event=…`, urlquery-encoded) opens that sensor with the event marked.
  const sensor = (await page.textContent(`.events li[data-event="${id}"] > button`)) ?? '';
  const linked = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const seenLinked = problems(linked);
  await linked.goto(`${url}#sensor=${encodeURIComponent(sensor).replace(/%20/g, '+')}&event=${id}`);
  await linked.waitForSelector(`#detail[data-sensor="${sensor}"]`, { timeout: 10_000 });
  await linked.waitForSelector(`.events li.linked[data-event="${id}"]`, { timeout: 10_000 });
  assert.equal(
    await linked.locator(`.events li.linked:not([data-event="${id}"])`).count(),
    0,
    'only the linked event is marked',
  );
  assert.deepEqual(seenLinked, [], log());
  await linked.close();
  await page.close();
});
