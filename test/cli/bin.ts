import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './run.js';
import { tempDir } from '../tempdir.js';

/** Source files of the build whose compiled .js is missing or older than them (dist is stale). */
function staleSources(dir = join(ROOT, 'src')): string[] {
  const stale: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'browser') stale.push(...staleSources(path));
      continue;
    }
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const built = join(ROOT, 'dist', relative(join(ROOT, 'src'), path)).replace(/\.ts$/, '.js');
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs) stale.push(relative(ROOT, path));
  }
  return stale;
}

/**
 * A folder with `aemon` in it as a global install lays it out: a symlink to the package's bin,
 * `dist/cli/index.js`, which runs through its `#!/usr/bin/env node` line with no wrapper process
 * (npm does not link a package's own bin into its node_modules/.bin). Put it first on PATH and
 * spawn `aemon`. Throws, saying what to run, when dist/ is older than src/.
 */
export function installedAemonBin(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { aemon: string } };
  const target = join(ROOT, pkg.bin.aemon);
  if (!existsSync(target))
    throw new Error(`${pkg.bin.aemon} is missing: run \`npm run build\` (npm ci and npm install run it)`);
  if ((statSync(target).mode & 0o111) === 0)
    throw new Error(`${pkg.bin.aemon} is not executable: run \`npm run build\``);
  const stale = staleSources();
  if (stale.length > 0)
    throw new Error(
      `dist/ is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}: run \`npm run build\``,
    );
  const bin = join(tempDir('aemon-bin-'), 'bin');
  mkdirSync(bin);
  symlinkSync(target, join(bin, 'aemon'));
  return bin;
}
