import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pages = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(new URL('../docs/', import.meta.url))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

test('README is a front door: under 350 lines', () => {
  const lines = readme.split('\n').length;
  assert.ok(lines < 350, `README.md has ${lines} lines`);
});

test('README shows the two quick-start commands and what npm test sets up', () => {
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /^npm test\b/m);
  for (const pkg of ['prometheus', 'kcat', 'chromium', 'docker-compose', 'Maven'])
    assert.ok(readme.includes(pkg), `README does not say npm test sets up ${pkg}`);
});

/** Every `aemon …` command line of the sh blocks in `md`: [command (with a `models` subcommand), its --flags]. */
function commandLines(md: string): Array<{ command: string[]; flags: string[]; line: string }> {
  const out: Array<{ command: string[]; flags: string[]; line: string }> = [];
  for (const block of md.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/#.*$/, '');
      for (const m of line.matchAll(/(?:^|[\s&;|(])aemon\s+([a-z-]+)((?:\s+[^\s&;|#]+)*)/g)) {
        const words = m[2]!.trim().split(/\s+/).filter(Boolean);
        const command = m[1] === 'models' && words[0] && !words[0].startsWith('-') ? [m[1], words[0]] : [m[1]!];
        out.push({
          command,
          flags: words.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]!),
          line: raw.trim(),
        });
      }
    }
  }
  return out;
}

test('every aemon command line in the README and docs names a real command and only flags its --help lists', async () => {
  const help = new Map<string, string>();
  const helpOf = async (command: string[]): Promise<string> => {
    const key = command.join(' ');
    if (!help.has(key)) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'src/cli/index.ts', ...command, '--help'],
        { cwd: ROOT },
      );
      help.set(key, stdout);
    }
    return help.get(key)!;
  };
  const top = await helpOf([]);
  const wrong: string[] = [];
  let checked = 0;
  for (const page of pages) {
    for (const { command, flags, line } of commandLines(readFileSync(new URL(`../${page}`, import.meta.url), 'utf8'))) {
      if (!new RegExp(`^  ${command[0]}\\b`, 'm').test(top)) {
        wrong.push(`${page}: ${line}: no command ${command[0]}`);
        continue;
      }
      const text = await helpOf(command);
      checked++;
      for (const flag of flags)
        if (!new RegExp(`${flag}\\b`).test(text)) wrong.push(`${page}: ${line}: ${command.join(' ')} has no ${flag}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 20, `only ${checked} command lines found`);
});

test('every npm run bench line in the README and docs passes only flags the bench --help lists', async () => {
  const { stdout: help } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--help'], {
    cwd: ROOT,
  });
  assert.match(help, /--quick\b/);
  const wrong: string[] = [];
  let checked = 0;
  for (const page of pages) {
    const md = readFileSync(new URL(`../${page}`, import.meta.url), 'utf8');
    for (const block of md.matchAll(/^```sh\n([\s\S]*?)^```/gm)) {
      for (const raw of block[1]!.split('\n')) {
        const m = /npm run bench\b((?:\s+[^\s&;|#]+)*)/.exec(raw.replace(/#.*$/, ''));
        if (!m) continue;
        checked++;
        for (const flag of m[1]!
          .trim()
          .split(/\s+/)
          .filter((w) => w.startsWith('--') && w !== '--')) {
          if (!new RegExp(`${flag.split('=')[0]}\\b`).test(help))
            wrong.push(`${page}: ${raw.trim()}: npm run bench has no ${flag}`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 5, `only ${checked} npm run bench lines found`);
});

test('every npm run script the README and docs name exists', () => {
  const scripts = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const missing: string[] = [];
  for (const page of pages) {
    for (const m of readFileSync(new URL(`../${page}`, import.meta.url), 'utf8').matchAll(/npm run ([\w:-]+)/g)) {
      if (!(m[1]! in scripts)) missing.push(`${page}: npm run ${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});
