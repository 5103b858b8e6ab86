/**
 * Screenshots of the live view, taken with the real chromium on a running demo that has a
 * maintenance span in its calendar and the admin token set: the whole page, one channel with its
 * expected band, the suppressed span shaded, the anomaly list with its verdict buttons, and the
 * whole page again in the dark colour scheme.
 *
 *   npm run screenshots [-- DIR]      (default .cache/screenshots, outside git)
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from '../test/cli/run.js';
import { launchChromium, problems, startDemo, until } from '../test/view/browser.js';
import { demoEnv, writeDemoConfig } from '../test/view/suppressed-demo.js';

const TOKEN = 'screenshots';
const out = resolve(process.argv[2] ?? join(ROOT, '.cache', 'screenshots'));
mkdirSync(out, { recursive: true });

const browser = await launchChromium();
const demo = await startDemo(
  ['--config', writeDemoConfig(), '--duration', '600s', '--sensors', '2', '--seed', '3', '--port', '0'],
  demoEnv(TOKEN, 10),
);
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1150 } });
  const seen = problems(page);
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  await page.fill('#admin-token', TOKEN);
  await page.click('#feedback-token button[type="submit"]');

  // The first anomaly event: show its sensor once a minute of event time has passed after it opened.
  const button = '#recent-events button.verdict[data-verdict="false_alarm"]';
  await page.waitForSelector(button, { timeout: 180_000 });
  const id = (await page.getAttribute(button, 'data-event')) ?? '';
  const sensor = (await page.textContent(`#recent-events li[data-event="${id}"] > button`)) ?? '';
  await page.click(`#fleet button.sensor[data-id="${sensor}"]`);
  await page.waitForSelector(`#detail[data-sensor="${sensor}"]`, { timeout: 10_000 });
  await until(
    `a minute of ${sensor} after the event`,
    async () => Number(await page.getAttribute('#detail', 'data-last-ts')) > (await openedAt(id)) + 60_000,
    120_000,
  );

  // Frozen (the demo stopped), so that every picture shows the same moment.
  demo.pause();
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => r(null)))');
  const shots: Array<[string, string, string]> = [
    // name, from the top of this element, to the bottom of that one
    ['live-view.png', 'body', 'body'],
    ['expected-band.png', '#channel-charts .chart', '#channel-charts .chart'],
    ['suppressed-span.png', '#score-chart', '#channel-charts .chart'],
    ['feedback.png', 'aside.events', '#recent-events'],
  ];
  for (const [name, from, to] of shots) {
    const path = join(out, name);
    if (from === 'body') await page.screenshot({ path });
    else {
      const a = await page.locator(from).first().boundingBox();
      const b = await page.locator(to).first().boundingBox();
      if (!a || !b) throw new Error(`${from} or ${to} is not on the page`);
      const y = Math.max(0, a.y - 4);
      await page.screenshot({
        path,
        fullPage: true,
        clip: { x: Math.max(0, a.x - 4), y, width: a.width + 8, height: b.y + b.height + 8 - y },
      });
    }
    console.log(`wrote ${path}`);
  }
  // The same moment in the dark colour scheme (the page redraws its charts when the scheme changes).
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))');
  await page.screenshot({ path: join(out, 'live-view-dark.png') });
  console.log(`wrote ${join(out, 'live-view-dark.png')}`);
  if (seen.length > 0) throw new Error(`the page had problems:\n${seen.join('\n')}`);
} finally {
  demo.stop();
  await browser.close();
}

/** When event `id` opened (event time), from the live view's own snapshot. */
async function openedAt(id: string): Promise<number> {
  const fleet = (await (await fetch(`${demo.url}api/fleet`)).json()) as {
    recent: Array<{ id: string; start: number }>;
  };
  return fleet.recent.find((e) => e.id === id)?.start ?? Number.POSITIVE_INFINITY;
}
