import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every file under `dir` that `keep` accepts, recursively, in directory order (callers sort):
 * entries starting with `.` are skipped, and a symbolic link to a folder is walked like one.
 */
export async function walkFiles(dir: string, keep: (file: string) => boolean = () => true): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = join(at, entry.name);
      const isDir = entry.isSymbolicLink() ? (await stat(full)).isDirectory() : entry.isDirectory();
      if (isDir) await walk(full);
      else if (keep(full)) found.push(full);
    }
  };
  await walk(dir);
  return found;
}
