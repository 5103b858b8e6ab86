import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../cli/run.js';

/** Screenshots of test runs (git-ignored); the README's copies live in docs/img. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');
const DOCS_IMG = join(ROOT, 'docs', 'img');

/**
 * Debian's chromium (`apt-get install -y chromium`, npm run test:setup); CHROMIUM_PATH overrides
 * (not an AEMON_* name: aemon rejects AEMON_* variables it does not know, and the tests' aemon
 * processes inherit the environment).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Starts the real chromium. A browser test that cannot start it fails, with how to fix it —
 * it never skips (a silent pass would hide that the view went untested).
 */
export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM });
  } catch (err) {
    throw new Error(
      `cannot start chromium at ${CHROMIUM}: ${(err as Error).message.split('\n')[0]}\n` +
        'install it with `apt-get install -y chromium` (or `npm run test:setup`) or set CHROMIUM_PATH to a chromium binary',
    );
  }
}

/** Console errors, page errors and failed requests of a page, as they happen. */
export function problems(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') seen.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const error = r.failure()?.errorText ?? '';
    // The live view closes its event stream on purpose when another sensor is chosen.
    if (error === 'net::ERR_ABORTED' && /\/events(\?|$)/.test(r.url())) return;
    seen.push(`request failed: ${r.url()} ${error}`);
  });
  return seen;
}

/**
 * Saves a screenshot under test-artifacts/; with UPDATE_DOCS_SCREENSHOTS=1 also copies it to
 * docs/img/ (the README's images), so an ordinary test run leaves the work tree clean.
 */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage });
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1') {
    mkdirSync(DOCS_IMG, { recursive: true });
    copyFileSync(path, join(DOCS_IMG, name));
  }
  return path;
}

/** Polls `check` until it holds (a wait with a deadline, not a sleep as synchronisation). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A running `aemon demo` child: its live view's URL, everything it printed, and a stop. */
export interface DemoProcess {
  url: string;
  log: () => string;
  /**
   * Freezes the process (SIGSTOP), so a page holds still while it is read or photographed: its
   * event stream just goes quiet. `resume` (SIGCONT) lets it go on.
   */
  pause: () => void;
  resume: () => void;
  stop: () => void;
}

/**
 * Starts a real `aemon demo` (through tsx) with `args` and `env` on a free port; resolves once
 * it prints the live view's URL, rejects if it exits first.
 */
export function startDemo(args: readonly string[], env: Record<string, string>): Promise<DemoProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), 'demo', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^live view: (http:\/\/\S+\/)$/m.exec(out);
      if (m)
        resolve({
          url: m[1]!,
          log: () => out,
          pause: () => child.kill('SIGSTOP'),
          resume: () => child.kill('SIGCONT'),
          stop,
        });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => reject(new Error(`demo exited (${code}) before serving the live view:\n${out}`)));
  });
}

/** One point of a scatter layer as drawn: its canvas pixel (device pixels) and that pixel's RGBA. */
export interface DrawnPoint {
  x: number;
  y: number;
  px: number;
  py: number;
  rgba: number[];
}

/** A scatter layer as drawn: its name, its colour as the canvas paints it, and its points. */
export interface DrawnLayer {
  name: string;
  ring: boolean;
  radius: number;
  rgba: number[];
  points: DrawnPoint[];
}

/**
 * Reads a latent-space scatter (charts.js `scatterChart`, found by the page expression `chart`)
 * as the user sees it: in one synchronous turn (no redraw in between) its layers, each point's
 * pixel and the colour there, and each layer's colour painted on a scratch canvas (so the
 * browser's rounding is the chart's). For a ring layer a point's colour is read on the ring's
 * right-hand edge instead of at its centre. (Page code as a string: no DOM types here.)
 */
export async function scatterPixels(page: Page, chart: string): Promise<DrawnLayer[]> {
  return (await page.evaluate(`(() => {
    const c = ${chart};
    const scratch = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    const rgba = (color) => {
      scratch.clearRect(0, 0, 1, 1);
      scratch.fillStyle = color;
      scratch.fillRect(0, 0, 1, 1);
      return Array.from(scratch.getImageData(0, 0, 1, 1).data);
    };
    const ctx = c.canvas.getContext('2d');
    const at = (x, y) => Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data);
    const dpr = devicePixelRatio || 1;
    return c.layers().map((l) => ({
      name: l.name,
      ring: Boolean(l.ring),
      radius: l.radius * dpr,
      rgba: rgba(l.color),
      points: l.x.map((x, i) => {
        const [px, py] = c.toPos(x, l.y[i]);
        if (!l.ring) return { x, y: l.y[i], px, py, rgba: at(px, py) };
        // A ring's stroke is 2 px wide and anti-aliased: the pixel nearest its colour across it.
        const want = rgba(l.color);
        const off = (p) => Math.max(...p.map((v, k) => Math.abs(v - want[k])));
        const across = [-1, -0.5, 0, 0.5, 1].map((d) => at(px + (l.radius + d) * dpr, py));
        return { x, y: l.y[i], px, py, rgba: across.reduce((a, b) => (off(b) < off(a) ? b : a)) };
      }),
    }));
  })()`)) as DrawnLayer[];
}

/** Whether two RGBA colours are the same within the canvas's rounding. */
export function sameColour(a: readonly number[], b: readonly number[], tolerance = 8): boolean {
  return a.length === 4 && b.length === 4 && a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);
}

/**
 * The points of `layer` no point of a layer drawn after it covers (none within `clear` px): the
 * ones whose own colour must show at their centre.
 */
export function uncovered(layers: readonly DrawnLayer[], layer: number, clear = 10): DrawnPoint[] {
  const above = layers.slice(layer + 1).flatMap((l) => l.points);
  return layers[layer]!.points.filter((p) => above.every((q) => Math.hypot(p.px - q.px, p.py - q.py) > clear));
}
