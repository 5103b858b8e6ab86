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
import { T0, writeDemoConfig } from '../test/view/suppressed-demo.js';

const TOKEN = 'screenshots';
const out = resolve(process.argv[2] ?? join(ROOT, '.cache', 'screenshots'));
mkdirSync(out, { recursive: true });

/**
 * The demo as `npm start` trains it (600 readings of bootstrap, its epochs), ten times faster than
 * the wall clock, with a maintenance span after the bootstrap and before the first injected anomaly.
 */
const SPAN = { start: T0 + 900_000, end: T0 + 1_080_000 };
const QUIET_SECONDS = 1200;

const browser = await launchChromium();
const demo = await startDemo(
  ['--config', writeDemoConfig(SPAN), '--duration', '600s', '--sensors', '2', '--seed', '3', '--port', '0'],
  {
    AEMON_SIMULATOR_SPEEDUP: '10',
    AEMON_SIMULATOR_QUIET_SECONDS: String(QUIET_SECONDS),
    AEMON_SIMULATOR_ANOMALY_EVERY_SECONDS: '150',
    AEMON_ADMIN_TOKEN: TOKEN,
    AEMON_TRAINING_AFTER_WINDOWS: '1000000',
  },
);
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1150 } });
  const seen = problems(page);
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  await page.fill('#admin-token', TOKEN);
  await page.click('#feedback-token button[type="submit"]');

  // The first anomaly event that opened after the maintenance span, so that one picture shows the
  // shaded span and the event; its sensor is shown once the event has closed.
  let event: RecentEvent | undefined;
  await until(
    'an anomaly event after the maintenance span',
    async () => (event = await firstEventAfterMaintenance()) !== undefined,
    360_000,
  );
  const { id, sensor } = event!;
  const button = `.events button.verdict[data-verdict="false_alarm"][data-event="${id}"]`;
  await page.waitForSelector(button, { timeout: 30_000 });
  await page.click(`#fleet button.sensor[data-id="${sensor}"]`);
  await page.waitForSelector(`#detail[data-sensor="${sensor}"]`, { timeout: 10_000 });
  await until(
    `the event closed, and a minute of ${sensor} after it opened`,
    async () => {
      const shown = (await page.textContent(`#recent-events li[data-event="${id}"]`).catch(() => '')) ?? '';
      return (
        / closed/.test(shown) && Number(await page.getAttribute('#detail', 'data-last-ts')) > event!.start + 60_000
      );
    },
    180_000,
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

interface RecentEvent {
  id: string;
  sensor: string;
  start: number;
}

/** The live view's own snapshot of the recent events. */
async function recentEvents(): Promise<RecentEvent[]> {
  const fleet = (await (await fetch(`${demo.url}api/fleet`)).json()) as { recent: RecentEvent[] };
  return fleet.recent;
}

/** The earliest event that opened after the maintenance span, once there is one. */
async function firstEventAfterMaintenance(): Promise<RecentEvent | undefined> {
  return (await recentEvents()).filter((e) => e.start >= SPAN.end).sort((a, b) => a.start - b.start)[0];
}
