import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * What `npm pack` would publish: the files of package.json's `files` plus what npm always adds.
 * `--ignore-scripts` keeps `prepare` (the build) out of the test: the dist/ of `npm ci` is packed.
 */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  assert.ok(pack, 'npm pack --json printed no package');
  return pack.files.map((f) => f.path).sort();
}

// A user needs the built service, its docs and licence, and the deployment examples; never the
// sources, tests, scripts, CI or benchmark tooling.
const ALLOWED = [/^dist\//, /^dashboards\/[^/]+\.json$/, /^deploy\//, /^docs\/[^/]+\.md$/, /^docs\/img\/[^/]+\.png$/];
const TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);

test('npm pack lists only what a user needs, and everything aemon run needs', async () => {
  assert.ok(existsSync(new URL('../dist/cli/index.js', import.meta.url)), 'dist/ is missing: npm ci (or npm run build) builds it');
  const files = await packedFiles();
  const stray = files.filter((f) => !TOP_LEVEL.has(f) && !ALLOWED.some((re) => re.test(f)));
  assert.deepEqual(stray, [], 'files npm pack would publish that a user does not need');
  for (const f of ['dist/cli/index.js', 'README.md', 'LICENSE', 'CHANGELOG.md', 'deploy/docker-compose.yml', 'deploy/prometheus/rules.yml', 'dashboards/aemon-overview.json', 'docs/operations.md']) {
    assert.ok(files.includes(f), `${f} is not in the package`);
  }
  assert.ok(files.includes('dist/view/browser/live.js'), 'the live view assets are not in the package');
  // The promtool unit tests of the alert rules (deploy/prometheus/rules.test.yml) ship with the
  // rules, for whoever edits them; no test code of aemon itself does.
  assert.deepEqual(files.filter((f) => /^(src|test|scripts|\.ci)\/|\.test\.[jt]s$|^dist\/.*\.test\./.test(f)), []);

  // Every compiled file comes from a source that exists now: a stale dist/ from an older build
  // (a removed command, a renamed module) would otherwise ship.
  const stale = files
    .filter((f) => f.startsWith('dist/') && !f.startsWith('dist/view/browser/'))
    .map((f) => f.replace(/^dist\//, 'src/').replace(/\.js(\.map)?$/, '.ts').replace(/\.d\.ts$/, '.ts'))
    .filter((src) => !existsSync(new URL(`../${src}`, import.meta.url)));
  assert.deepEqual(stale, [], 'dist/ holds files without a source in src/ (rebuild: rm -rf dist && npm run build)');
});

test('the licence is the Apache-2.0 text package.json declares', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { license: string };
  assert.equal(pkg.license, 'Apache-2.0');
  const licence = readFileSync(new URL('../LICENSE', import.meta.url), 'utf8');
  assert.match(licence, /Apache License\s+Version 2\.0, January 2004/);
  assert.match(licence, /END OF TERMS AND CONDITIONS/);
});
