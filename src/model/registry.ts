import { copyFile, mkdir, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AemonError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { ModelBundle, ModelMetadata, ModelPromotion } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import type { KernelSetting } from './kernels/kernel.js';
import { loadModelFolder, saveModelFolder, tmpSuffix, verifyModelFolder, writeDurably } from './io.js';

/**
 * The model registry (docs/deployment.md#the-model-registry) over `model.dir`:
 * ```
 * <root>/<group folder>/CURRENT          the current version's id (replaced atomically)
 * <root>/<group folder>/<version>/       a model folder (src/model/io.ts), metadata.promotion set
 * ```
 * Model folders from before the registry — `<root>` itself, or `<root>/<group folder>/` holding
 * metadata.json — are read as their group's current version; the first write to the group
 * imports such a folder as a version, so it can be rolled back to.
 */

const CURRENT = 'CURRENT';
const MODEL_FILES = ['model.json', 'weights.bin', 'metadata.json', 'checksums.json'] as const;
const VERSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** One model version as `aemon models list` and `GET /models` show it. */
export interface RegistryEntry {
  group: string;
  version: string;
  dir: string;
  createdAt: string;
  /** When it was promoted; null for a folder from before the registry. */
  promotedAt: string | null;
  current: boolean;
  trainingWindows: number;
  dataFrom: string | null;
  dataTo: string | null;
  /** Sensors calibrated in it. */
  sensors: number;
  reason?: string;
  gate?: unknown;
  /** `legacy`: a model folder from before the registry, read as its group's current version. */
  layout: 'registry' | 'legacy';
  /** Why metadata.json cannot be read; such a version is listed but cannot be loaded. */
  problem?: string;
}

export interface ModelRegistryOptions {
  root: string;
  /** Versions kept per group (`model.keep`); the current one and the one before it always stay. */
  keep?: number;
  log?: Logger;
}

/** What `aemon models show` prints: the entry, its metadata and whether its checksums hold. */
export interface RegistryInspection {
  entry: RegistryEntry;
  metadata?: ModelMetadata;
  /** `ok`, or why the folder would be refused on load. */
  checksum: string;
}

interface Version {
  id: string;
  dir: string;
  seq: number;
  group?: string;
  metadata?: ModelMetadata;
  problem?: string;
}

interface GroupScan {
  group: string;
  /** The group's registry folder, if it has one yet. */
  folder?: string;
  /** What CURRENT says; undefined without the file. */
  current?: string;
  /** Registry versions, newest first. */
  versions: Version[];
  legacy?: Version;
}

/** A folder name for a model group: its channels, filesystem-safe. */
export function groupFolderName(group: string): string {
  const safe = group.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return safe === '' ? 'group' : safe;
}

function registryError(code: ErrorCode, message: string, cause?: unknown): AemonError {
  return new AemonError(code, message, { stage: 'model', cause });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function subfolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw registryError('AEMON_MODEL_IO', `cannot read the model registry ${dir}: ${(err as Error).message}`, err);
  }
}

/** Reads a version's metadata loosely (listing must not fail on one bad folder). */
async function readVersion(dir: string, id: string): Promise<Version> {
  try {
    const metadata = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as ModelMetadata;
    if (typeof metadata !== 'object' || metadata === null || typeof metadata.group !== 'string')
      throw new Error('no group in it');
    return { id, dir, seq: metadata.promotion?.seq ?? 0, group: metadata.group, metadata };
  } catch (err) {
    return { id, dir, seq: 0, problem: `metadata.json cannot be read: ${(err as Error).message}` };
  }
}

export class ModelRegistry {
  readonly root: string;
  readonly keep: number;
  private readonly log: Logger | undefined;
  /** Writes run one after another within a process. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(options: ModelRegistryOptions) {
    this.root = resolve(options.root);
    this.keep = options.keep ?? 5;
    this.log = options.log;
    if (!Number.isInteger(this.keep) || this.keep < 1)
      throw registryError('AEMON_CONFIG_INVALID', `model.keep must be a positive integer, got ${this.keep}`);
  }

  /** Model groups with at least one version. */
  async groups(): Promise<string[]> {
    return (await this.scan()).map((g) => g.group);
  }

  /** Versions of one group or of all, by group, newest first within each. */
  async list(group?: string): Promise<RegistryEntry[]> {
    const scans = await this.scan();
    const chosen = group === undefined ? scans : [this.pick(scans, group)];
    return chosen.flatMap((g) => entriesOf(g));
  }

  /** The group's current version, if it has one. */
  async current(group: string): Promise<RegistryEntry | undefined> {
    return entriesOf(this.pick(await this.scan(), group)).find((e) => e.current);
  }

  /** A version by id (or a unique prefix of one), with its metadata and checksum status. */
  async inspect(version: string, group?: string): Promise<RegistryInspection> {
    const entry = this.find(await this.list(group), version);
    let checksum = 'ok';
    try {
      await verifyModelFolder(entry.dir);
    } catch (err) {
      checksum = (err as Error).message;
    }
    const v = await readVersion(entry.dir, entry.version);
    return { entry, ...(v.metadata ? { metadata: v.metadata } : {}), checksum };
  }

  /**
   * Saves `bundle` as a new version of its group, then makes it current, then prunes the group
   * to the newest `keep` versions (never the current one or the one before it).
   */
  promote(bundle: ModelBundle, info: { gate?: unknown; reason?: string } = {}): Promise<RegistryEntry> {
    return this.exclusive(async () => {
      const gs = await this.importLegacy(await this.groupScan(bundle.metadata.group));
      return this.promoteIn(gs, bundle, info);
    });
  }

  /**
   * Re-saves the folder of `bundle`'s version (e.g. after new sensors were calibrated), keeping
   * its promotion record and leaving CURRENT alone. A group with no version yet gets it
   * promoted; a version pruned meanwhile is `AEMON_MODEL_NOT_FOUND` (CURRENT is never moved here).
   */
  update(bundle: ModelBundle): Promise<RegistryEntry> {
    return this.exclusive(async () => {
      const gs = await this.importLegacy(await this.groupScan(bundle.metadata.group));
      const v = gs.versions.find((x) => x.id === bundle.metadata.version);
      if (!v && gs.current === undefined) return this.promoteIn(gs, bundle, {});
      if (!v)
        throw registryError(
          'AEMON_MODEL_NOT_FOUND',
          `model ${bundle.metadata.version} is no longer in ${this.root} (pruned); its calibrations were not saved`,
        );
      const promotion = v.metadata?.promotion;
      await saveModelFolder(v.dir, {
        model: bundle.model,
        metadata: { ...bundle.metadata, ...(promotion ? { promotion } : {}) },
      });
      const entry = entriesOf(await this.groupScan(bundle.metadata.group)).find((e) => e.version === v.id)!;
      return entry;
    });
  }

  /**
   * Makes `version` (default: the one before the current) the group's current version. The
   * target's checksums and metadata are verified first; if they fail, CURRENT is not touched
   * and the error says so. `group` may be left out when the registry holds one group.
   */
  rollback(group?: string, version?: string): Promise<RegistryEntry> {
    return this.exclusive(async () => {
      const scans = await this.scan();
      let gs: GroupScan;
      if (group === undefined) {
        if (scans.length !== 1) {
          throw registryError(
            'AEMON_MODEL_ROLLBACK',
            scans.length === 0
              ? `${this.root} holds no model`
              : `${this.root} holds ${scans.length} model groups (${scans.map((g) => g.group).join(' | ')}): name one`,
          );
        }
        gs = scans[0]!;
      } else gs = this.pick(scans, group);
      const entries = entriesOf(gs);
      const at = entries.findIndex((e) => e.current);
      const cur = entries[at];
      let target: RegistryEntry;
      if (version !== undefined) {
        target = this.find(entries, version);
        if (target.current)
          throw registryError(
            'AEMON_MODEL_ROLLBACK',
            `${target.version} is already the current version of [${gs.group}]`,
          );
      } else {
        if (!cur)
          throw registryError(
            'AEMON_MODEL_ROLLBACK',
            `[${gs.group}] has no current version; name the one to make current`,
          );
        const previous = entries[at + 1];
        if (!previous)
          throw registryError(
            'AEMON_MODEL_ROLLBACK',
            `[${gs.group}] has no version before ${cur.version} to roll back to`,
          );
        target = previous;
      }
      if (target.layout === 'legacy' || gs.folder === undefined)
        throw registryError('AEMON_MODEL_ROLLBACK', `${target.version} is not in the registry`);
      try {
        const metadata = await verifyModelFolder(target.dir);
        if (metadata.group !== gs.group)
          throw registryError('AEMON_MODEL_INVALID', `its metadata names group [${metadata.group}]`);
      } catch (err) {
        const code = err instanceof AemonError ? err.code : 'AEMON_MODEL_IO';
        const stays = cur ? `; ${cur.version} stays current` : '';
        throw registryError(
          code,
          `refusing to roll [${gs.group}] back to ${target.version}: ${(err as Error).message}${stays}`,
          err,
        );
      }
      await this.writeCurrent(gs.folder, target.version);
      this.log?.info(
        { group: gs.group, from: cur?.version, to: target.version },
        `model group [${gs.group}] rolled back to ${target.version}`,
      );
      return { ...target, current: true };
    });
  }

  /**
   * Loads every group's current version, verifying checksums. A current version that cannot be
   * loaded is an error naming its folder (and the rollback command, when an earlier version
   * exists); models loaded before it are disposed.
   */
  async loadCurrent(tf: Tf, backend: string, kernel: KernelSetting = 'auto'): Promise<ModelBundle[]> {
    const bundles: ModelBundle[] = [];
    try {
      for (const gs of await this.scan()) {
        const entries = entriesOf(gs);
        const cur = entries.find((e) => e.current);
        const hint = entries.some((e) => !e.current && e.layout === 'registry')
          ? `; to score with the version before it: aemon models rollback --dir ${this.root} --group '${gs.group}'`
          : '';
        if (!cur) {
          if (gs.current === undefined) continue;
          throw registryError(
            'AEMON_MODEL_IO',
            `${join(gs.folder!, CURRENT)} names version "${gs.current}", which is not in ${gs.folder}${hint}`,
          );
        }
        try {
          bundles.push(await loadModelFolder(cur.dir, tf, backend, kernel));
        } catch (err) {
          const code = err instanceof AemonError ? err.code : 'AEMON_MODEL_IO';
          throw registryError(
            code,
            `the current model of [${gs.group}] (${cur.version} in ${cur.dir}) is refused: ${(err as Error).message}${hint}`,
            err,
          );
        }
      }
    } catch (err) {
      for (const b of bundles) b.model.dispose();
      throw err;
    }
    return bundles;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.writing.then(work, work);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async promoteIn(
    gs: GroupScan,
    bundle: ModelBundle,
    info: { gate?: unknown; reason?: string },
  ): Promise<RegistryEntry> {
    const version = bundle.metadata.version;
    if (!VERSION_ID.test(version))
      throw registryError('AEMON_MODEL_INVALID', `"${version}" cannot name a model version folder`);
    const folder = gs.folder ?? join(this.root, groupFolderName(gs.group));
    const promotion: ModelPromotion = {
      promotedAt: new Date().toISOString(),
      seq: Math.max(0, ...gs.versions.map((v) => v.seq)) + 1,
      ...(info.reason !== undefined ? { reason: info.reason } : {}),
      ...(info.gate !== undefined ? { gate: info.gate } : {}),
    };
    await saveModelFolder(join(folder, version), { model: bundle.model, metadata: { ...bundle.metadata, promotion } });
    await this.writeCurrent(folder, version);
    const pruned = await this.prune(await this.groupScan(gs.group));
    this.log?.info(
      { group: gs.group, version, dir: join(folder, version), pruned },
      `model ${version} promoted for [${gs.group}]`,
    );
    return entriesOf(await this.groupScan(gs.group)).find((e) => e.version === version)!;
  }

  /** Removes versions beyond the newest `keep`, except the current one and the one before it. */
  private async prune(gs: GroupScan): Promise<string[]> {
    const entries = entriesOf(gs).filter((e) => e.layout === 'registry');
    const at = entries.findIndex((e) => e.current);
    const spare = new Set(entries.slice(0, this.keep).map((e) => e.version));
    if (at >= 0) {
      spare.add(entries[at]!.version);
      if (entries[at + 1]) spare.add(entries[at + 1]!.version);
    }
    const gone = entries.filter((e) => !spare.has(e.version));
    for (const e of gone) await rm(e.dir, { recursive: true, force: true });
    return gone.map((e) => e.version);
  }

  /** A folder from before the registry becomes a version (and current) before the group is written. */
  private async importLegacy(gs: GroupScan): Promise<GroupScan> {
    const legacy = gs.legacy;
    if (!legacy || gs.current !== undefined) return gs;
    const version = legacy.metadata?.version ?? legacy.id;
    if (!VERSION_ID.test(version))
      throw registryError('AEMON_MODEL_INVALID', `${legacy.dir}: "${version}" cannot name a model version folder`);
    const folder = gs.folder ?? join(this.root, groupFolderName(gs.group));
    const target = join(folder, version);
    const tmp = join(folder, `.${version}.tmp-${tmpSuffix()}`);
    try {
      await mkdir(tmp, { recursive: true });
      for (const f of MODEL_FILES) await copyFile(join(legacy.dir, f), join(tmp, f));
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw registryError(
        'AEMON_MODEL_IO',
        `cannot import the model folder ${legacy.dir} into the registry: ${(err as Error).message}`,
        err,
      );
    }
    await this.writeCurrent(folder, version);
    // CURRENT now wins over the old files; removing them is tidying only.
    for (const f of MODEL_FILES) await rm(join(legacy.dir, f), { force: true });
    if (legacy.dir !== this.root && legacy.dir !== folder) await rmdir(legacy.dir).catch(() => undefined);
    this.log?.info(
      { group: gs.group, version, from: legacy.dir, to: target },
      `imported model ${version} into the registry`,
    );
    return this.groupScan(gs.group);
  }

  private async writeCurrent(folder: string, version: string): Promise<void> {
    const tmp = join(folder, `.${CURRENT}.tmp-${tmpSuffix()}`);
    try {
      await mkdir(folder, { recursive: true });
      await writeDurably(tmp, `${version}\n`);
      await rename(tmp, join(folder, CURRENT));
    } catch (err) {
      await rm(tmp, { force: true });
      throw registryError('AEMON_MODEL_IO', `cannot write ${join(folder, CURRENT)}: ${(err as Error).message}`, err);
    }
  }

  private async groupScan(group: string): Promise<GroupScan> {
    return (await this.scan()).find((g) => g.group === group) ?? { group, versions: [] };
  }

  /** A group by name or folder name; an unknown one is `AEMON_MODEL_NOT_FOUND`. */
  private pick(scans: GroupScan[], group: string): GroupScan {
    const found = scans.find((g) => g.group === group) ?? scans.find((g) => groupFolderName(g.group) === group);
    if (!found) {
      const known = scans.map((g) => g.group).join(' | ') || 'none';
      throw registryError('AEMON_MODEL_NOT_FOUND', `no model group [${group}] in ${this.root} (groups: ${known})`);
    }
    return found;
  }

  private find(entries: RegistryEntry[], version: string): RegistryEntry {
    const exact = entries.filter((e) => e.version === version);
    const matches = exact.length > 0 ? exact : entries.filter((e) => e.version.startsWith(version));
    if (matches.length === 0)
      throw registryError('AEMON_MODEL_NOT_FOUND', `no model version ${version} in ${this.root}`);
    if (matches.length > 1) {
      throw registryError(
        'AEMON_MODEL_NOT_FOUND',
        `${version} is ambiguous in ${this.root}: ${matches.map((e) => `${e.version} [${e.group}]`).join(', ')}`,
      );
    }
    return matches[0]!;
  }

  private async scan(): Promise<GroupScan[]> {
    const byGroup = new Map<string, GroupScan>();
    const at = (group: string): GroupScan => {
      let gs = byGroup.get(group);
      if (!gs) byGroup.set(group, (gs = { group, versions: [] }));
      return gs;
    };
    for (const name of await subfolders(this.root)) {
      const folder = join(this.root, name);
      const versions: Version[] = [];
      for (const child of await subfolders(folder)) {
        if (await exists(join(folder, child, 'metadata.json')))
          versions.push(await readVersion(join(folder, child), child));
      }
      const currentFile = await readFile(join(folder, CURRENT), 'utf8').then(
        (text) => text.trim(),
        () => undefined,
      );
      const own = (await exists(join(folder, 'metadata.json'))) ? await readVersion(folder, name) : undefined;
      if (currentFile === undefined && versions.length === 0) {
        if (own) at(own.group ?? name).legacy ??= own;
        continue;
      }
      const gs = at(versions.find((v) => v.group !== undefined)?.group ?? own?.group ?? name);
      gs.folder = folder;
      if (currentFile !== undefined) gs.current = currentFile;
      gs.versions.push(...versions);
      if (own) gs.legacy ??= own;
    }
    if (await exists(join(this.root, 'metadata.json'))) {
      const own = await readVersion(this.root, 'legacy');
      at(own.group ?? 'legacy').legacy ??= own;
    }
    for (const gs of byGroup.values()) gs.versions.sort(newestFirst);
    return [...byGroup.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  }
}

function newestFirst(a: Version, b: Version): number {
  if (a.seq !== b.seq) return b.seq - a.seq;
  const ca = a.metadata?.createdAt ?? '';
  const cb = b.metadata?.createdAt ?? '';
  if (ca !== cb) return ca < cb ? 1 : -1;
  return a.id < b.id ? 1 : -1;
}

function toEntry(v: Version, group: string, current: boolean, layout: RegistryEntry['layout']): RegistryEntry {
  const m = v.metadata;
  return {
    group,
    version: layout === 'legacy' ? (m?.version ?? v.id) : v.id,
    dir: v.dir,
    createdAt: m?.createdAt ?? '',
    promotedAt: m?.promotion?.promotedAt ?? null,
    current,
    trainingWindows: m?.trainingWindows ?? 0,
    dataFrom: m?.dataFrom ?? null,
    dataTo: m?.dataTo ?? null,
    sensors: m?.sensors ? Object.keys(m.sensors).length : 0,
    ...(m?.promotion?.reason !== undefined ? { reason: m.promotion.reason } : {}),
    ...(m?.promotion?.gate !== undefined ? { gate: m.promotion.gate } : {}),
    layout,
    ...(v.problem !== undefined ? { problem: v.problem } : {}),
  };
}

/** CURRENT, when present, decides; without it a folder from before the registry is current. */
function entriesOf(gs: GroupScan): RegistryEntry[] {
  if (gs.current === undefined && gs.legacy) {
    return [
      toEntry(gs.legacy, gs.group, true, 'legacy'),
      ...gs.versions.map((v) => toEntry(v, gs.group, false, 'registry')),
    ];
  }
  return gs.versions.map((v) => toEntry(v, gs.group, v.id === gs.current, 'registry'));
}
