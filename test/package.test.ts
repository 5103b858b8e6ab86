import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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
// sources, tests, scripts, CI or benchmark tooling (bench/). The JSON Schemas of the records
// aemon writes are part of its contract.
const ALLOWED = [
  /^dist\//,
  /^dashboards\/[^/]+\.json$/,
  /^schemas\/[^/]+\.json$/,
  /^deploy\//,
  /^docs\/[^/]+\.md$/,
  /^docs\/img\/[^/]+\.png$/,
];
const TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);

test('npm pack lists only what a user needs, and everything aemon run needs', async () => {
  assert.ok(
    existsSync(new URL('../dist/cli/index.js', import.meta.url)),
    'dist/ is missing: npm ci (or npm run build) builds it',
  );
  const files = await packedFiles();
  const stray = files.filter((f) => !TOP_LEVEL.has(f) && !ALLOWED.some((re) => re.test(f)));
  assert.deepEqual(stray, [], 'files npm pack would publish that a user does not need');
  for (const f of [
    'dist/cli/index.js',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'deploy/docker-compose.yml',
    'deploy/prometheus/rules.yml',
    'dashboards/aemon-overview.json',
    'docs/operations.md',
  ]) {
    assert.ok(files.includes(f), `${f} is not in the package`);
  }
  assert.ok(files.includes('dist/view/browser/live.js'), 'the live view assets are not in the package');
  // The promtool unit tests of the alert rules (deploy/prometheus/rules.test.yml) ship with the
  // rules, for whoever edits them; no test code of aemon itself does.
  assert.deepEqual(
    files.filter((f) => /^(src|test|scripts|bench|\.ci)\/|\.test\.[jt]s$|^dist\/.*\.test\./.test(f)),
    [],
  );

  // Every compiled file comes from a source that exists now: a stale dist/ from an older build
  // (a removed command, a renamed module) would otherwise ship.
  const stale = files
    .filter((f) => f.startsWith('dist/') && !f.startsWith('dist/view/browser/'))
    .map((f) =>
      f
        .replace(/^dist\//, 'src/')
        .replace(/\.js(\.map)?$/, '.ts')
        .replace(/\.d\.ts$/, '.ts'),
    )
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

/** Every file under `dir`, as absolute paths. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/**
 * Where a built file points outside the repository: a quoted relative path ('../…', './…') in
 * a script that resolves above the repository root, the sources of a source map likewise, and
 * any mention of the Keras peer's folder (shared/bench), which lives beside a checkout, not in it.
 */
function pathsOutside(file: string, text: string, root: string): string[] {
  const climbs = (p: string): boolean => relative(root, resolve(dirname(file), p)).startsWith('..');
  const found = [...text.matchAll(/shared\/bench[^'"`\s]*/g)].map((m) => m[0]);
  if (file.endsWith('.map')) {
    const map = JSON.parse(text) as { sources?: string[]; sourceRoot?: string };
    found.push(...(map.sources ?? []).map((s) => join(map.sourceRoot ?? '', s)).filter(climbs));
  } else {
    found.push(...[...text.matchAll(/(['"`])(\.\.?\/[^'"`\n]*)\1/g)].map((m) => m[2]!).filter(climbs));
  }
  return found;
}

test('pathsOutside finds a path that climbs out of the repository and leaves ones inside it alone', () => {
  const root = '/r/aemon';
  const file = '/r/aemon/dist/cli/x.js';
  assert.deepEqual(pathsOutside(file, "new URL('../../../shared/bench/keras_m0.py', import.meta.url)", root), [
    'shared/bench/keras_m0.py',
    '../../../shared/bench/keras_m0.py',
  ]);
  assert.deepEqual(
    pathsOutside(
      file,
      'import { a } from \'../config/load.js\'; const b = "../../package.json"; const c = `./x.js`;',
      root,
    ),
    [],
  );
  assert.deepEqual(pathsOutside(file, "readFileSync('../../../etc/x')", root), ['../../../etc/x']);
  assert.deepEqual(
    pathsOutside('/r/aemon/dist/cli/x.js.map', JSON.stringify({ sources: ['../../src/cli/x.ts'] }), root),
    [],
  );
  assert.deepEqual(
    pathsOutside('/r/aemon/dist/cli/x.js.map', JSON.stringify({ sources: ['../../../other/x.ts'] }), root),
    ['../../../other/x.ts'],
  );
});

test('nothing under dist refers to a path outside the repository', () => {
  const dist = join(ROOT, 'dist');
  assert.ok(existsSync(join(dist, 'cli/index.js')), 'dist/ is missing: npm ci (or npm run build) builds it');
  const files = walk(dist).filter((f) => /\.(js|mjs|cjs|map|json|d\.ts)$/.test(f));
  assert.ok(files.length > 50, `only ${files.length} built files in dist/`);
  const outside = files.flatMap((f) =>
    pathsOutside(f, readFileSync(f, 'utf8'), ROOT).map((p) => `${relative(ROOT, f)}: ${p}`),
  );
  assert.deepEqual(outside, []);
});
