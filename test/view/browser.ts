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
