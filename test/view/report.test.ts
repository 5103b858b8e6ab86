import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import type { AnomalyEvent } from '../../src/pipeline/contracts.js';
import { indexHtml, reportHtml, reportSensor } from '../../src/view/report.js';
import type { SensorSeries } from '../../src/view/series.js';
import { aemon, DATASETS } from '../cli/run.js';
import { launchChromium, problems, screenshot } from './browser.js';
import { tempDir } from '../tempdir.js';

const T0 = Date.UTC(2026, 0, 1);

/** n readings of a sine, a labelled anomaly at [la, lb), aemon's anomaly state on at [da, db). */
function series(n: number, la: number, lb: number, da: number, db: number, channels = ['a', 'b']): SensorSeries {
  const ts = new Float64Array(n);
  const values = channels.map(() => new Float32Array(n));
  const score = new Float32Array(n);
  const anomaly = new Int8Array(n);
  const label = new Int8Array(n);
  const training = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = T0 + i * 1000;
    values.forEach((v, c) => (v[i] = Math.sin(i / 50 + c) * 10 + (i >= la && i < lb ? 8 : 0)));
    training[i] = i < n / 10 ? 1 : 0;
    score[i] = training[i] ? Number.NaN : 0.5 + (i >= da && i < db ? 1.5 : 0) + Math.sin(i / 7) * 0.1;
    anomaly[i] = i >= da && i < db ? 1 : 0;
    label[i] = i >= la && i < lb ? 1 : 0;
  }
  const event: AnomalyEvent = {
    id: 'e1',
    kind: 'opened',
    sensor: 's',
    group: 'a,b',
    start: ts[da]!,
    peakScore: 2.1,
    severity: 'major',
    topChannels: [{ channel: 'a', share: 0.7, reading: 3, expected: 1, deviation: 2, direction: 'above' }],
    modelVersion: 'm-1',
  };
  return {
    id: 's',
    channels,
    ts,
    values,
    reconstruction: channels.map(() => new Float32Array(n).fill(Number.NaN)),
    score,
    anomaly,
    label,
    training,
    // A maintenance span over the second fifth of the series.
    suppressed: Int8Array.from({ length: n }, (_v, i) => (i >= n / 5 && i < (2 * n) / 5 ? 1 : 0)),
    events: [event, { ...event, kind: 'closed', end: ts[db - 1]! }],
  };
}

test('a report sensor: labelled, detected and training spans from the full series; one event per anomaly; downsampled', () => {
  const r = reportSensor(series(10_000, 6000, 6500, 6200, 6700), 500);
  assert.deepEqual(r.labelled, [[T0 + 6000_000, T0 + 6499_000]]);
  assert.deepEqual(r.detected, [[T0 + 6200_000, T0 + 6699_000]]);
  assert.deepEqual(r.training, [[T0, T0 + 999_000]]);
  assert.deepEqual(r.suppressed, [[T0 + 2000_000, T0 + 3999_000]]);
  assert.deepEqual(r.events, [{ start: T0 + 6200_000, end: T0 + 6699_000, peak: 2.1, top: 'a 70 %' }]);
  // At most 3 points per column (min, max, and a gap marker where a column has missing values).
  assert.ok(r.points <= 1500, `${r.points} points`);
  assert.equal(r.reconstruction, null, 'no reconstruction drawn when the model gave none');
  assert.deepEqual(r.stats, { readings: 10_000, scored: 9000, anomalous: 500, labelledRows: 500 });
  // The score's peak survives downsampling.
  assert.ok(Math.max(...r.score.filter((v): v is number => v !== null)) > 2);
});

test('report and index HTML load nothing from anywhere: no external script, style, link or URL reference', () => {
  const pages = [
    reportHtml([series(2000, 1200, 1300, 1250, 1350)], { title: 'x', source: 'x.csv', backend: 'wasm', generated: T0 }),
    indexHtml({ title: 'i', summary: 's', columns: ['file', 'f1'], rows: [{ href: 'a.html', cells: ['a', '1'] }] }),
  ];
  for (const html of pages) {
    assert.doesNotMatch(html, /<script[^>]*\ssrc\s*=/i, 'no <script src>');
    assert.doesNotMatch(html, /<link\b/i, 'no <link>');
    assert.doesNotMatch(
      html,
      /\b(src|href|action|poster|data)\s*=\s*["']?\s*(https?:)?\/\//i,
      'no attribute pointing off the page',
    );
    assert.doesNotMatch(html, /url\(\s*["']?\s*(https?:)?\/\//i, 'no CSS url() off the page');
    assert.doesNotMatch(html, /@import/i);
    // The only http(s) URL is the licence banner comment of the inlined uPlot.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]*/g)].map((m) => m[0]);
    assert.ok(
      urls.every((u) => u === 'https://github.com/leeoniya/uPlot'),
      `unexpected URLs: ${urls.join(', ')}`,
    );
    assert.match(html, /Content-Security-Policy" content="default-src 'none';[^"]*connect-src 'none'/);
  }
});

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

test('a SKAB replay report in chromium: the labelled anomaly is shaded, detections drawn, no console errors, no network', async (t) => {
  const dir = tempDir('aemon-report-');
  const file = join(dir, 'report.html');
  const run = await aemon([
    'replay',
    join(DATASETS, 'skab/valve1/1.csv'),
    '--train-first',
    '400',
    '--out',
    join(dir, 's.csv'),
    '--report',
    file,
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /report → .*report\.html/);
  t.diagnostic(`report.html: ${statSync(file).size} bytes`);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const seen = problems(page);
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  const drawn = (await page.evaluate('window.aemonReport.drawn')) as Array<Record<string, number>>;
  // valve1/1.csv: one sensor, 8 channels + the score chart; one labelled window in the file.
  assert.equal(drawn.length, 1);
  assert.equal(drawn[0]!.charts, 9);
  assert.equal(drawn[0]!.labelled, 1);
  assert.ok(drawn[0]!.detected! >= 1 && drawn[0]!.events! >= 1, `no detection drawn: ${JSON.stringify(drawn)}`);

  // The labelled band is really painted: in the score chart, the pixel at the labelled window's
  // middle (top edge, above any line) has the band's colour, one outside every span does not.
  // (A string: tsx's helpers would not exist in the page.)
  const px = (await page.evaluate(`(() => {
    const u = window.aemonReport.charts[0];
    const s = JSON.parse(document.getElementById('report-data').textContent).sensors[0];
    const y = u.bbox.top + 3;
    function at(t) { return Array.from(u.ctx.getImageData(Math.round(u.valToPos(t, 'x', true)), y, 1, 1).data); }
    const [a, b] = s.labelled[0];
    const busy = [...s.labelled, ...s.detected, ...s.training];
    let free = b + 1;
    while (busy.some(([x0, x1]) => free >= x0 - 2000 && free <= x1 + 2000)) free += 1000;
    return { inside: at((a + b) / 2), outside: at(free) };
  })()`)) as { inside: number[]; outside: number[] };
  assert.notDeepEqual(px.inside, px.outside, `labelled band not painted: ${JSON.stringify(px)}`);
  // The band is orange: more red than blue.
  assert.ok(px.inside[0]! > px.inside[2]! + 20, `labelled band colour ${px.inside.join(',')}`);

  await screenshot(page, 'report.png');
  assert.deepEqual(seen, []);
  assert.deepEqual(
    requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')),
    [],
    'the report loads nothing from the network',
  );
  await page.close();
});

test('a 1M-point report opens in chromium in under 2 seconds', async (t) => {
  const dir = tempDir('aemon-report-1m-');
  const file = join(dir, 'big.html');
  const n = 1_000_000;
  const t0 = performance.now();
  const html = reportHtml([series(n, 600_000, 610_000, 605_000, 612_000, ['a', 'b', 'c'])], {
    title: '1M',
    source: 'synthetic',
    backend: 'wasm',
  });
  const buildMs = performance.now() - t0;
  writeFileSync(file, html);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const seen = problems(page);
  const start = Date.now();
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  const openMs = Date.now() - start;
  const renderMs = (await page.evaluate('window.aemonReport.renderMs')) as number;
  t.diagnostic(
    `1M points × 3 channels: report ${html.length} bytes, built in ${buildMs.toFixed(0)} ms, opened in ${openMs} ms (charts drawn in ${renderMs.toFixed(0)} ms)`,
  );
  assert.ok(openMs < 2000, `opening took ${openMs} ms`);
  assert.ok(html.length < 2_000_000, `report of ${html.length} bytes`);
  assert.deepEqual(seen, []);
  await page.close();
});
