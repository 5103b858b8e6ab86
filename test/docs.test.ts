import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configReferenceTable } from '../src/config/reference.js';
import { ERROR_CODES } from '../src/errors.js';
import { ablationTable, EVALUATION_PAGE, evaluationBlocks } from '../scripts/docs-evaluation.js';
import { PERFORMANCE_PAGE, performanceBlocks } from '../scripts/docs-performance.js';
import { readBlock } from '../scripts/docs/blocks.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (rel: string): string => readFileSync(join(ROOT, rel), 'utf8');
const DOC_PAGES = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const PAGES = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...DOC_PAGES];

/** The markdown outside fenced code blocks (links and headings inside them are not links or headings). */
function prose(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2 … */
function slug(heading: string): string {
  const text = heading
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
}

function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(md).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every link target of a page: inline links and images, and reference definitions. */
function links(md: string): string[] {
  const text = prose(md).replace(/`[^`\n]*`/g, '');
  const inline = [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const refs = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)].map((m) => m[1]!);
  return [...inline, ...refs];
}

const external = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** Why `target`, linked from `from` (a repository-relative path), does not resolve; undefined when it does. */
function brokenLink(from: string, target: string): string | undefined {
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
  const file = pathPart === '' ? from : normalize(join(dirname(from), decodeURIComponent(pathPart)));
  if (file.startsWith('..')) return 'points outside the repository';
  const abs = join(ROOT, file);
  if (!existsSync(abs)) return `${file} does not exist`;
  if (anchor === undefined) return undefined;
  if (!file.endsWith('.md') || statSync(abs).isDirectory()) return `#${anchor} on a file that is not markdown`;
  return anchors(read(file)).has(anchor) ? undefined : `${file} has no heading #${anchor}`;
}

test('the slug rule is GitHub’s', () => {
  assert.equal(slug("aemon's LSTM op"), 'aemons-lstm-op');
  assert.equal(slug('Delivery: nothing lost, nothing re-emitted'), 'delivery-nothing-lost-nothing-re-emitted');
  assert.equal(slug('[0.1.0] - 2026-11-28'), '010---2026-11-28');
  assert.equal(slug('The `simd` kernel'), 'the-simd-kernel');
  assert.equal(slug('`/metrics` scrape'), 'metrics-scrape');
  assert.deepEqual([...anchors('# A\n## A\n```\n# not a heading\n```\n### B c\n')], ['a', 'a-1', 'b-c']);
});

test('every relative link and #anchor in the README, CONTRIBUTING, CHANGELOG and docs/ resolves', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const target of links(read(page))) {
      if (external(target)) continue;
      checked++;
      const why = brokenLink(page, target);
      if (why) broken.push(`${page}: (${target}) ${why}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 50, `only ${checked} relative links found: is the link pattern still right?`);
});

test('a broken link or anchor is caught', () => {
  assert.match(brokenLink('README.md', 'docs/nope.md') ?? '', /does not exist/);
  assert.match(brokenLink('README.md', 'docs/operations.md#no-such-heading') ?? '', /no heading/);
  assert.match(brokenLink('docs/kafka.md', '../../outside.md') ?? '', /outside/);
  assert.equal(brokenLink('docs/kafka.md', 'operations.md#metrics'), undefined);
});

test('every docs/… path named in src/, test/, scripts/ and deploy/ (runbook_url included) resolves', () => {
  const files = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|js|c|cc|sh|ya?ml|json)$/.test(f) || f.endsWith('Dockerfile'))
      .map((f) => join(dir, f));
  const broken: string[] = [];
  let named = 0;
  // This file's own broken examples are the exception.
  for (const file of ['src', 'test', 'scripts', 'deploy']
    .flatMap(files)
    .filter((f) => f !== join('test', 'docs.test.ts'))) {
    for (const m of read(file).matchAll(/(?<![\w./-])docs\/[\w/-]+\.md(?:#[\w-]+)?/g)) {
      named++;
      const why = brokenLink('README.md', m[0]);
      if (why) broken.push(`${file}: ${m[0]}: ${why}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(named >= 20, `only ${named} docs paths named in the code`);
});

test("every alert rule's runbook_url is its own section of docs/operations.md", () => {
  const groups = (
    parse(read('deploy/prometheus/rules.yml')) as {
      groups: Array<{ rules: Array<{ alert: string; annotations?: Record<string, string> }> }>;
    }
  ).groups;
  const ops = anchors(read('docs/operations.md'));
  for (const rule of groups.flatMap((g) => g.rules)) {
    const url = rule.annotations?.runbook_url;
    assert.equal(url, `docs/operations.md#${rule.alert.toLowerCase()}`, `${rule.alert}: runbook_url`);
    assert.ok(ops.has(rule.alert.toLowerCase()), `docs/operations.md has no section for ${rule.alert}`);
  }
});

test('every docs page is reachable from the README', () => {
  const reached = new Set<string>(['README.md']);
  const queue = ['README.md'];
  while (queue.length > 0) {
    const page = queue.shift()!;
    for (const target of links(read(page))) {
      if (external(target)) continue;
      const path = target.split('#')[0]!;
      if (!path.endsWith('.md')) continue;
      const file = normalize(join(dirname(page), path));
      if (!reached.has(file) && existsSync(join(ROOT, file))) {
        reached.add(file);
        queue.push(file);
      }
    }
  }
  const unreached = [...DOC_PAGES, 'CONTRIBUTING.md', 'CHANGELOG.md'].filter((p) => !reached.has(p));
  assert.deepEqual(unreached, []);
});

test('docs/operations.md documents every error code', () => {
  const ops = read('docs/operations.md');
  const missing = ERROR_CODES.filter((code) => !new RegExp(`^\\| \`${code}\` \\| \\S`, 'm').test(ops));
  assert.deepEqual(missing, []);
});

test("docs/configuration.md's reference is the one the schema gives (npm run config-reference)", () => {
  const block = /<!-- config-reference:start[^\n]*\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(
    read('docs/configuration.md'),
  );
  assert.ok(block, 'docs/configuration.md has no config-reference block');
  assert.equal(block[1], configReferenceTable());
});

test('the generated evaluation and performance tables match their JSON in docs/data (npm run docs:evaluation, docs:performance)', () => {
  for (const [url, blocks] of [
    [EVALUATION_PAGE, evaluationBlocks()],
    [PERFORMANCE_PAGE, performanceBlocks()],
  ] as const) {
    const page = readFileSync(url, 'utf8');
    const name = relative(ROOT, fileURLToPath(url));
    assert.ok(blocks.size > 0, `no JSON in docs/data for ${name}`);
    for (const [block, content] of blocks) {
      const now = readBlock(page, block);
      assert.ok(now !== undefined, `${name} has no generated:${block} block`);
      assert.equal(now, content, `${name}'s generated:${block} block is stale`);
    }
    const orphans = [...page.matchAll(/<!-- generated:([\w.-]+):start/g)]
      .map((m) => m[1]!)
      .filter((b) => !blocks.has(b));
    assert.deepEqual(orphans, [], `${name} has generated blocks without data`);
  }
});

test('the ablation table gives each figure as the mean ± the standard deviation over the seeds that have it', () => {
  const skab = (f1: number) => ({ f1, far: 10, mar: 20, seconds: 1 });
  const sim = (detected: number) => ({
    injected: 56,
    detected,
    falseEvents: 2,
    sensorHours: 19,
    falseEventsPerSensorHour: 2 / 19,
    falseAlarmRate: 0.01,
    seconds: 1,
  });
  const table = ablationTable({
    benchmark: 'ablation',
    backend: 'wasm',
    seeds: [1, 2, 3],
    simulator: 'sim',
    variants: [
      {
        name: 'defaults',
        what: '',
        settings: {},
        runs: [
          { seed: 1, skab: skab(0.7), sim: sim(50) },
          { seed: 2, skab: skab(0.8), sim: sim(52) },
          { seed: 3, skab: skab(0.9), sim: sim(54) },
        ],
      },
      { name: 'conv', what: '', settings: { AEMON_MODEL_ARCHITECTURE: 'conv' }, runs: [{ seed: 1, skab: skab(0.75) }] },
    ],
  });
  const rows = table.trim().split('\n').slice(2);
  assert.equal(
    rows[0],
    '| **defaults** | — | 1, 2, 3 | **0.800 ± 0.100** | **10.0 ± 0.0** | **20.0 ± 0.0** | — | — | — | **52.0 ± 2.0 of 56** | **0.11 ± 0.00** |',
  );
  assert.equal(rows[1], '| conv | `AEMON_MODEL_ARCHITECTURE=conv` | 1 | 0.750 | 10.0 | 20.0 | — | — | — | — | — |');
});

test('docs and code comments carry no issue numbers or branch names', () => {
  const code = ['src', 'test', 'scripts', 'deploy', 'dashboards'].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|js|c|cc|sh|ya?ml|json|css)$/.test(f))
      .map((f) => join(dir, f)),
  );
  const hits: string[] = [];
  for (const file of [...PAGES, ...code]) {
    for (const [i, line] of read(file).split('\n').entries()) {
      if (/\bissues?\s*#?\d+\b|\bbranch(es)?\b[^\n]*`[\w/-]+`|\(#\d+\)|DESIGN\.md/i.test(line))
        hits.push(`${file}:${i + 1}: ${line.trim()}`);
    }
  }
  assert.deepEqual(hits, []);
});
