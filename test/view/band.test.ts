import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { SensorDetail } from '../../src/view/live.js';
import { launchChromium, problems, screenshot, startDemo, until, type DemoProcess } from './browser.js';
import { MAINTENANCE, READING_MS, WINDOW_SIZE, demoEnv, writeDemoConfig } from './suppressed-demo.js';

let demo: DemoProcess | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  demo?.stop();
});

/** What one pixel column of a chart's plot area shows. */
interface Column {
  /** Pixel rows in the band (2 px in from its edges), and the share of them in the probed colour. */
  inside: number;
  insideShare: number;
  /** Pixel rows more than 3 px outside the band (all rows without one), and those in the colour. */
  outside: number;
  outsideMatches: number;
}

/**
 * Reads a chart's canvas as the user sees it. In one animation frame (uPlot has drawn every
 * setData by then, and no update runs in between) it takes chart `chart`'s data and, at each x
 * (event time), three pixel columns (at x and 3 px either side, so that one of them misses the
 * vertical grid line that may sit at x), counting pixels of `cssVar`'s colour: the chart's canvas
 * is transparent over the page, and the browser paints the colour on a scratch canvas, so its
 * rounding is the chart's. A column's band is [band.low, band.high] (series indices) at x.
 * (Page code as a string: this project compiles without the DOM types.)
 */
async function probe(
  page: Page,
  chart: number,
  cssVar: string,
  xs: readonly number[],
  band?: { low: number; high: number },
): Promise<Array<{ x: number; columns: Column[] }>> {
  const args = JSON.stringify({ chart, cssVar, xs, band: band ?? null });
  return (await page.evaluate(`new Promise((resolve) => requestAnimationFrame(() => {
    const { chart, cssVar, xs, band } = ${args};
    const u = window.aemonLive.charts()[chart];
    const css = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
    const scratch = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    scratch.fillStyle = css(cssVar);
    scratch.fillRect(0, 0, 1, 1);
    const want = scratch.getImageData(0, 0, 1, 1).data;
    const { left, top, width, height } = u.bbox;
    const column = (px, yHigh, yLow) => {
      const col = u.ctx.getImageData(Math.min(Math.max(px, left), left + width - 1), top, 1, height).data;
      const out = { inside: 0, insideShare: 0, outside: 0, outsideMatches: 0 };
      let hits = 0;
      for (let r = 0; r < height; r++) {
        const y = top + r;
        const match = [0, 1, 2, 3].every((c) => Math.abs(col[r * 4 + c] - want[c]) <= 6);
        if (y > yHigh + 2 && y < yLow - 2) {
          out.inside++;
          if (match) hits++;
        } else if (!(y >= yHigh - 3 && y <= yLow + 3)) {
          out.outside++;
          if (match) out.outsideMatches++;
        }
      }
      out.insideShare = out.inside ? hits / out.inside : 0;
      return out;
    };
    resolve(xs.map((x) => {
      const px = Math.round(u.valToPos(x, 'x', true));
      const k = u.data[0].indexOf(x);
      let yHigh = Infinity, yLow = -Infinity;
      if (band && k >= 0 && u.data[band.high][k] != null && u.data[band.low][k] != null) {
        yHigh = u.valToPos(u.data[band.high][k], 'y', true);
        yLow = u.valToPos(u.data[band.low][k], 'y', true);
      }
      return { x, columns: [-3, 0, 3].map((d) => column(px + d, yHigh, yLow)) };
    }));
  }))`)) as Array<{ x: number; columns: Column[] }>;
}

const best = (cols: readonly Column[], by: (c: Column) => number): Column =>
  cols.reduce((a, b) => (by(b) > by(a) ? b : a));

/** Evenly spread picks of `list` (at most n). */
function spread<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_v, i) => list[Math.floor(((i + 0.5) * list.length) / n)]!);
}

test('the live view draws the expected band around each channel and shades a suppressed span', async (t) => {
  browser = await launchChromium();
  demo = await startDemo(
    ['--config', writeDemoConfig(), '--duration', '180s', '--sensors', '2', '--seed', '3', '--port', '0'],
    demoEnv('band-secret', 20),
  );
  const { url, log } = demo;
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const seen = problems(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  await page.click('#fleet button.sensor[data-id="sensor-1"]');
  await page.waitForSelector('#detail[data-sensor="sensor-1"]', { timeout: 10_000 });
  // Past the maintenance span by more than a window, with the warming readings still in the chart.
  await until(
    'sensor-1 past the maintenance span',
    async () =>
      Number(await page.getAttribute('#detail', 'data-last-ts')) > MAINTENANCE.end + 2 * WINDOW_SIZE * READING_MS,
    120_000,
  );

  // The server's own record of the sensor, to hold the drawing against; once the page has caught
  // up with it, the demo is frozen so that the page holds still while its pixels are read.
  const server = (await (await fetch(`${url}api/sensor?id=sensor-1`)).json()) as SensorDetail;
  const p = server.points;
  const last = p.ts[p.ts.length - 1]!;
  await until(
    'the page has what the server had',
    async () => Number(await page.getAttribute('#detail', 'data-last-ts')) >= last,
    10_000,
  );
  demo.pause();
  const scored = p.ts.filter((_ts, k) => p.reconstruction[0]![k] !== null);
  const warming = p.ts.filter((_ts, k) => p.reconstruction.every((r) => r[k] === null));
  assert.ok(scored.length > 100, `sensor-1 has scored readings with a reconstruction (${scored.length})`);
  assert.ok(warming.length > 20, `the chart still holds the warming readings, before the model (${warming.length})`);
  assert.equal(server.channels.length, 4);
  assert.equal(await page.locator('#channel-charts .uplot').count(), server.channels.length);
  assert.equal(await page.locator('.key .swatch.band').count(), 1, 'the key names the expected band');

  // ---- the expected band, channel by channel ----
  const quiet = (k: number): boolean => p.anomaly[k] === 0 && p.suppressed[k] === 0;
  for (const [c, channel] of server.channels.entries()) {
    const drawn = (await page.evaluate(`(() => {
      const u = window.aemonLive.charts()[${c + 1}];
      return { title: u.root.querySelector('.u-title').textContent, data: u.data, bands: u.bands.map((b) => b.series) };
    })()`)) as { title: string; data: Array<Array<number | null>>; bands: number[][] };
    assert.equal(drawn.title, channel);
    assert.deepEqual(drawn.bands, [[4, 3]], `${channel}: one band, filled between the high and the low edge`);
    const [ts, , recon, low, high] = drawn.data as [
      number[],
      number[],
      Array<number | null>,
      Array<number | null>,
      Array<number | null>,
    ];
    let within = 0;
    let counted = 0;
    // Every reading the server sent is drawn; the band is reconstruction ± the server's tolerance.
    for (const [k, x] of p.ts.entries()) {
      const i = ts.indexOf(x);
      assert.ok(i >= 0, `${channel}: the reading at ${x} is drawn`);
      const r = p.reconstruction[c]![k] ?? null;
      const tol = p.tolerance[c]![k] ?? null;
      assert.equal(recon[i], r);
      if (r === null || tol === null) {
        assert.equal(low[i], null, `${channel}: no band without an expectation (at ${x})`);
        assert.equal(high[i], null);
        continue;
      }
      assert.ok(tol > 0, `${channel}: the band has a width (${tol})`);
      assert.ok(
        Math.abs(low[i]! - (r - tol)) <= 1e-6 * Math.max(1, Math.abs(r)),
        `${channel}: low edge ${low[i]} = ${r} − ${tol}`,
      );
      assert.ok(
        Math.abs(high[i]! - (r + tol)) <= 1e-6 * Math.max(1, Math.abs(r)),
        `${channel}: high edge ${high[i]} = ${r} + ${tol}`,
      );
      if (quiet(k)) {
        counted++;
        const v = p.values[c]![k]!;
        if (v >= low[i]! && v <= high[i]!) within++;
      }
    }
    // The band means "what the model expects": in normal running the readings stay inside it.
    assert.ok(
      counted > 50 && within / counted >= 0.8,
      `${channel}: ${within} of ${counted} normal readings inside the band`,
    );
    t.diagnostic(`${channel}: ${within} of ${counted} normal readings inside the expected band`);

    // What the user sees: the band's colour fills the column between its edges, and nothing else.
    const candidates = p.ts.filter((_x, k) => quiet(k) && p.tolerance[c]![k] !== null);
    const inBand = await probe(page, c + 1, '--band', spread(candidates.slice(5, -5), 12), { low: 3, high: 4 });
    for (const { x, columns } of inBand) {
      const col = best(columns, (c) => c.insideShare);
      assert.ok(col.inside >= 6, `${channel}: the band is at least a few pixels tall at ${x} (${col.inside})`);
      assert.ok(
        col.insideShare >= 0.5,
        `${channel}: the band is filled at ${x} (${(col.insideShare * 100).toFixed(0)} % of its pixels)`,
      );
      const stray = best(columns, (c) => c.outsideMatches).outsideMatches;
      assert.ok(stray <= 2, `${channel}: no band colour outside the band at ${x} (${stray} px)`);
    }
    const none = await probe(page, c + 1, '--band', spread(warming.slice(0, -5), 6), { low: 3, high: 4 });
    for (const { x, columns } of none) {
      for (const col of columns)
        assert.equal(col.inside + col.outsideMatches, 0, `${channel}: no band while warming, at ${x}`);
    }
  }

  // ---- the maintenance span, shaded ----
  const flagged = p.ts.filter((_x, k) => p.suppressed[k] === 1);
  const spanMs = WINDOW_SIZE * READING_MS;
  assert.ok(flagged.length > 0, 'readings of the maintenance span are marked suppressed');
  for (const x of flagged)
    assert.ok(
      x >= MAINTENANCE.start && x < MAINTENANCE.end + spanMs,
      `suppressed only where a window meets the span (${x})`,
    );
  for (const [k, x] of p.ts.entries())
    if (x >= MAINTENANCE.start && x <= MAINTENANCE.end && p.score[k] !== null)
      assert.equal(p.suppressed[k], 1, `a scored reading inside the span is suppressed (${x})`);
  const inside = spread(
    flagged.filter((x) => x > MAINTENANCE.start + 5 * READING_MS && x < MAINTENANCE.end - 5 * READING_MS),
    8,
  );
  const outsideSpan = spread(
    p.ts.filter(
      (x, k) =>
        p.anomaly[k] === 0 && (x < MAINTENANCE.start - 5 * READING_MS || x > MAINTENANCE.end + spanMs + 5 * READING_MS),
    ),
    8,
  );
  assert.ok(inside.length >= 4 && outsideSpan.length >= 4);
  // The score chart (chart 0) shades it in the suppressed colour over its whole height, and nowhere else.
  for (const { x, columns } of await probe(page, 0, '--suppressed', inside)) {
    const col = best(columns, (c) => c.outsideMatches);
    assert.ok(col.outsideMatches >= 0.5 * col.outside, `shaded at ${x}: ${col.outsideMatches} of ${col.outside} px`);
  }
  for (const { x, columns } of await probe(page, 0, '--suppressed', outsideSpan)) {
    const col = best(columns, (c) => c.outsideMatches);
    assert.equal(col.outsideMatches, 0, `not shaded at ${x}`);
  }
  await screenshot(page, 'expected-band.png');
  assert.deepEqual(seen, [], log());
  await page.close();
});
