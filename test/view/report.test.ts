import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import type { AnomalyEvent } from '../../src/pipeline/contracts.js';
import { indexHtml, REPORT_LATENT_POINTS, reportHtml, reportSensor, type ReportSensor } from '../../src/view/report.js';
import type { LatentSeries, SensorSeries } from '../../src/view/series.js';
import { aemon, DATASETS } from '../cli/run.js';
import {
  launchChromium,
  problems,
  sameColour,
  scatterPixels,
  screenshot,
  uncovered,
  type DrawnLayer,
} from './browser.js';
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

/** Every `every`-th scored reading of `s` ends a window with a latent point (one model). */
function withLatent(s: SensorSeries, every: number): SensorSeries {
  const at: number[] = [];
  for (let i = 0; i < s.ts.length; i++) if (!s.training[i] && i % every === every - 1) at.push(i);
  const latent: LatentSeries = {
    at: Int32Array.from(at),
    x: Float32Array.from(at, (i) => Math.sin(i / 900) + (s.anomaly[i] ? 3 : 0)),
    y: Float32Array.from(at, (i) => Math.cos(i / 700)),
    distance: Float32Array.from(at, (i) => (s.anomaly[i] ? 2.5 : 0.6)),
    model: new Int32Array(at.length),
    versions: ['m-1'],
  };
  return { ...s, latent };
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

  // Replayed without --latent: no latent data, and no scatter or empty panel for it.
  assert.equal(
    await page.evaluate(`'latent' in JSON.parse(document.getElementById('report-data').textContent).sensors[0]`),
    false,
  );
  assert.equal(await page.evaluate('window.aemonReport.scatters.length'), 0);
  assert.equal(await page.locator('.scatter, .scatter-chart').count(), 0);
  assert.equal(await page.getByText('Latent space').count(), 0);

  await screenshot(page, 'report.png');
  assert.deepEqual(seen, []);
  assert.deepEqual(
    requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')),
    [],
    'the report loads nothing from the network',
  );
  await page.close();
});

test('a SKAB replay report with --latent: the latent scatter over the training sample, windows inside the labelled anomaly ringed, states in their colours', async (t) => {
  const dir = tempDir('aemon-report-latent-');
  const file = join(dir, 'report.html');
  const run = await aemon([
    'replay',
    join(DATASETS, 'skab/valve1/1.csv'),
    '--train-first',
    '400',
    '--latent',
    '--out',
    join(dir, 's.csv'),
    '--report',
    file,
  ]);
  assert.equal(run.code, 0, run.stderr);
  t.diagnostic(`report.html with the latent scatter: ${statSync(file).size} bytes`);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const seen = problems(page);
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
  const s = (await page.evaluate(
    `JSON.parse(document.getElementById('report-data').textContent).sensors[0]`,
  )) as ReportSensor;
  const l = s.latent!;
  assert.ok(l, 'the report carries the windows in the latent space');
  // valve1/1.csv: 745 scored readings, one window ending at each; all fit in the report.
  assert.equal(l.windows, 745);
  assert.equal(l.x.length, 745);
  assert.equal(l.earlier, 0);
  assert.ok(l.sample && l.sample.length > 0, "the model's training sample is in the report");
  assert.ok(l.explained && l.explained[0] > 0 && l.explained[0] <= 1);
  // Labelled: exactly the windows that end inside the file's labelled anomaly.
  assert.equal(s.labelled.length, 1);
  const [a, b] = s.labelled[0]!;
  assert.deepEqual(
    l.labelled,
    l.ts.map((ts) => (ts >= a && ts <= b ? 1 : 0)),
  );
  const inside = l.labelled!.filter((v) => v === 1).length;
  assert.ok(inside > 20 && inside < 745, `${inside} windows inside the labelled anomaly`);
  assert.ok(l.state.includes('anomalous') && l.state.includes('normal'));

  assert.equal(await page.evaluate('window.aemonReport.drawn[0].latent'), 0);
  const layers = await scatterPixels(page, 'window.aemonReport.scatters[0]');
  const byName = Object.fromEntries(layers.map((layer, i) => [layer.name, { ...layer, index: i }])) as Record<
    string,
    DrawnLayer & { index: number }
  >;
  assert.deepEqual(
    layers.map((layer) => layer.name),
    ['sample', 'normal', 'suppressed', 'anomalous', 'labelled'],
  );
  assert.equal(byName.sample!.points.length, l.sample.length, 'every training-sample point drawn');
  // The ringed windows are the labelled ones, and each ring is painted.
  const ringed = byName.labelled!.points;
  assert.deepEqual(
    ringed.map((p) => [p.x, p.y]),
    l.x.flatMap((x, i) => (l.labelled![i] === 1 ? [[x, l.y[i]]] : [])),
  );
  const painted = ringed.filter((p) => sameColour(p.rgba, byName.labelled!.rgba)).length;
  assert.ok(painted >= 0.95 * ringed.length, `${painted} of ${ringed.length} rings painted`);
  t.diagnostic(`${painted} of ${ringed.length} windows inside the labelled anomaly drawn ringed`);
  // Detected windows red, normal ones green, where nothing drawn later covers them.
  for (const name of ['normal', 'anomalous']) {
    const layer = byName[name]!;
    assert.equal(layer.points.length, l.state.filter((v) => v === name).length, `every ${name} window drawn`);
    const visible = uncovered(layers, layer.index);
    assert.ok(visible.length > 0, `some ${name} windows visible`);
    const right = visible.filter((p) => sameColour(p.rgba, layer.rgba)).length;
    assert.ok(right >= 0.95 * visible.length, `${name}: ${right} of ${visible.length} in its colour`);
  }
  assert.notDeepEqual(byName.normal!.rgba, byName.anomalous!.rgba);
  // The axes say what they are.
  const label = (await page.getAttribute('.scatter canvas', 'aria-label')) ?? '';
  assert.match(label, new RegExp(`PC 1 \\(${Math.round(l.explained[0] * 100)} %\\) across, PC 2 \\(\\d+ %\\) up`));
  assert.match(label, new RegExp(`${inside} inside a labelled anomaly`));
  await page.locator('.scatter').scrollIntoViewIfNeeded();
  await screenshot(page, 'report-latent.png');
  assert.deepEqual(seen, []);
  await page.close();
});

test('a 1M-point report opens in chromium in under 2 seconds', async (t) => {
  const dir = tempDir('aemon-report-1m-');
  const file = join(dir, 'big.html');
  const n = 1_000_000;
  const t0 = performance.now();
  // A window ending every 8 readings: 112,500 windows placed in the latent space.
  const html = reportHtml([withLatent(series(n, 600_000, 610_000, 605_000, 612_000, ['a', 'b', 'c']), 8)], {
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
  // The scatter is sampled down: bounded, with every state present.
  const latent = (await page.evaluate(
    `JSON.parse(document.getElementById('report-data').textContent).sensors[0].latent`,
  )) as NonNullable<ReportSensor['latent']>;
  assert.equal(latent.windows, 112_500);
  assert.ok(latent.x.length <= REPORT_LATENT_POINTS, `${latent.x.length} windows in the report`);
  for (const state of ['normal', 'anomalous', 'suppressed'])
    assert.ok(latent.state.includes(state as 'normal'), `${state} windows kept`);
  assert.ok(latent.labelled?.includes(1), 'windows inside the labelled anomaly kept');
  assert.equal(await page.evaluate('window.aemonReport.scatters.length'), 1);
  assert.deepEqual(seen, []);
  await page.close();
});
