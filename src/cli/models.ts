import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AemonError } from '../errors.js';

/** A model folder, or a folder of model folders (one per model group, as `aemon train` writes). */
export function modelFolders(dir: string): string[] {
  if (existsSync(join(dir, 'metadata.json'))) return [dir];
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (cause) {
    throw new AemonError('AEMON_MODEL_IO', `cannot read model folder ${dir}: ${(cause as Error).message}`, { stage: 'startup', cause });
  }
  const found = entries.map((e) => join(dir, e)).filter((d) => existsSync(join(d, 'metadata.json')));
  if (found.length === 0) {
    throw new AemonError('AEMON_MODEL_IO', `${dir} holds no model (no metadata.json in it or its subfolders); make one with \`aemon train\``, { stage: 'startup' });
  }
  return found;
}

/** Whether `dir` holds a model folder, or folders of them. */
export function hasModel(dir: string): boolean {
  if (existsSync(join(dir, 'metadata.json'))) return true;
  try {
    return readdirSync(dir).some((e) => existsSync(join(dir, e, 'metadata.json')));
  } catch {
    return false;
  }
}

/** A folder name for a model group: its channels, filesystem-safe. */
export function groupFolderName(group: string): string {
  const safe = group.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return safe === '' ? 'group' : safe;
}
