/**
 * The models folder: one sub-folder per model (downloaded ones are named "<owner>--<name>" and
 * carry a manifest, see manifest.ts; a checkpoint copied in by hand works too). Lists them with
 * their state and size, and removes one, never anything outside the folder. No 'vscode' import.
 */
import { Checkpoint } from '../checkpoint/checkpoint.ts';
import { archTensors, checkpointTensors, countParams } from '../model/params.ts';
import { specFromConfig } from '../model/spec.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, readManifest } from './manifest.ts';

export type ModelState = 'complete' | 'partial' | 'invalid';

export interface StoredModel {
  /** The folder's name. */
  name: string;
  path: string;
  /** "owner/name", when we downloaded it. */
  repo?: string;
  revision?: string;
  commit?: string;
  /** Bytes on disk, unfinished .part files included. */
  sizeBytes: number;
  /** complete: ready to load; partial: a download that has not finished (it resumes); invalid: not a usable checkpoint. */
  state: ModelState;
  /** Why it is partial or invalid, in words. */
  problem?: string;
  /** config.json's architectures[0] and model_type, when readable. */
  architecture?: string;
  modelType?: string;
  /** Total parameters and those active per token: from config.json alone where the architecture allows (DeepSeek-V4), else from a complete checkpoint's headers. */
  parameters?: number;
  activeParameters?: number;
}

export class ModelStoreError extends Error {
  override readonly name = 'ModelStoreError';
}

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'EBUSY') return 'it is in use';
  return String((e as Error).message ?? e);
}

/** Total size of the files under `p` (links are counted, not followed). */
async function diskSize(p: string): Promise<number> {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(p, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const full = path.join(p, e.name);
    if (e.isDirectory()) total += await diskSize(full);
    else total += (await fs.promises.lstat(full).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Parameter counts for the list; {} when they cannot be had cheaply (a config the engine refuses, no weights yet). */
function countsOf(dir: string, files: Set<string>): Pick<StoredModel, 'parameters' | 'activeParameters'> {
  try {
    const configPath = path.join(dir, 'config.json');
    const spec = specFromConfig(JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>, configPath);
    const list = archTensors(spec);
    if (list) {
      const c = countParams(spec, list);
      return { parameters: c.total, activeParameters: c.active };
    }
    if (![...files].some((f) => f.endsWith('.safetensors')) || [...files].some((f) => f.endsWith('.part'))) return {};
    const ckpt = Checkpoint.open(dir);
    try {
      const c = countParams(spec, checkpointTensors(spec, ckpt));
      return { parameters: c.total, activeParameters: c.active };
    } finally {
      ckpt.close();
    }
  } catch {
    return {};
  }
}

async function describe(dir: string, name: string): Promise<StoredModel> {
  const m: StoredModel = { name, path: dir, sizeBytes: await diskSize(dir), state: 'complete' };
  const files = new Set(await fs.promises.readdir(dir).catch(() => [] as string[]));
  const manifest = readManifest(dir);
  if (manifest) {
    m.repo = manifest.repo;
    m.revision = manifest.revision;
    if (manifest.commit) m.commit = manifest.commit;
  }
  try {
    const config = JSON.parse(await fs.promises.readFile(path.join(dir, 'config.json'), 'utf8')) as { architectures?: unknown; model_type?: unknown };
    if (Array.isArray(config.architectures) && typeof config.architectures[0] === 'string') m.architecture = config.architectures[0];
    if (typeof config.model_type === 'string') m.modelType = config.model_type;
  } catch (e) {
    if (files.has('config.json')) {
      m.state = 'invalid';
      m.problem = `config.json cannot be read: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  const parts = [...files].filter((f) => f.endsWith('.part'));
  if (m.modelType) Object.assign(m, countsOf(dir, files));
  if (manifest && !manifest.complete) {
    m.state = 'partial';
    m.problem = `the download of ${manifest.repo} has not finished: download it again to resume`;
    return m;
  }
  if (manifest) {
    const damaged = manifest.files.find((f) => (fs.statSync(path.join(dir, f.path), { throwIfNoEntry: false })?.size ?? -1) !== f.size);
    if (damaged) {
      m.state = 'invalid';
      m.problem = `${damaged.path} is missing or changed since the download: download it again`;
    }
    return m;
  }
  if (parts.length > 0) {
    m.state = 'partial';
    m.problem = `unfinished download (${parts.join(', ')}): download it again to resume`;
  } else if (m.state === 'complete' && !files.has('config.json')) {
    m.state = 'invalid';
    m.problem = 'no config.json: not a Hugging Face checkpoint';
  } else if (m.state === 'complete' && ![...files].some((f) => f.endsWith('.safetensors'))) {
    m.state = 'invalid';
    m.problem = 'no .safetensors weights';
  }
  return m;
}

/**
 * One checkpoint folder anywhere (the model in use may live outside the models folder: the demo's
 * default, or a folder chosen with Select Model Folder), described like the listed ones.
 */
export async function describeModel(dir: string): Promise<StoredModel> {
  const full = path.resolve(dir);
  if (!fs.statSync(full, { throwIfNoEntry: false })?.isDirectory()) {
    return { name: path.basename(full), path: full, sizeBytes: 0, state: 'invalid', problem: 'the folder does not exist' };
  }
  return describe(full, path.basename(full));
}

/** Whether a download into `dir` left anything to resume from (bytes of any file but the manifest). */
export async function hasDownloadedData(dir: string): Promise<boolean> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (n === MANIFEST_FILE) continue;
    const st = await fs.promises.lstat(path.join(dir, n)).catch(() => undefined);
    if (st?.isFile() && st.size > 0) return true;
  }
  return false;
}

/** The models in `folder`, by name; an absent folder has none. */
export async function listModels(folder: string): Promise<StoredModel[]> {
  const root = path.resolve(folder);
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(root, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ModelStoreError(`cannot list the models folder ${root}: ${why(e)}`);
  }
  const out: StoredModel[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(root, e.name);
    // A link to a checkpoint elsewhere counts as a model too.
    const isDir = e.isDirectory() || (e.isSymbolicLink() && fs.statSync(full, { throwIfNoEntry: false })?.isDirectory());
    if (isDir) out.push(await describe(full, e.name));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Removes the model folder `model` (absolute, or a name inside `folder`). Only a direct sub-folder
 * of `folder` is removed; anything else (the folder itself, a path outside it, a path that climbs
 * out through a link) is refused. A link is removed, not what it points to.
 */
export async function removeModel(folder: string, model: string): Promise<void> {
  const root = path.resolve(folder);
  const target = path.resolve(root, model);
  let realRoot: string;
  let realParent: string;
  try {
    realRoot = await fs.promises.realpath(root);
    realParent = await fs.promises.realpath(path.dirname(target));
  } catch (e) {
    throw new ModelStoreError(`cannot remove ${target}: ${why(e)}`);
  }
  if (realParent !== realRoot || path.basename(target) === '' || path.basename(target) === '..' || path.basename(target) === '.' || target === root) {
    throw new ModelStoreError(`refusing to remove ${target}: only a model folder directly inside ${root} can be removed`);
  }
  const st = await fs.promises.lstat(target).catch((e: unknown) => {
    throw new ModelStoreError(`cannot remove ${target}: ${why(e)}`);
  });
  try {
    if (st.isSymbolicLink()) await fs.promises.unlink(target);
    else if (st.isDirectory()) await fs.promises.rm(target, { recursive: true });
    else throw new ModelStoreError(`refusing to remove ${target}: it is not a model folder`);
  } catch (e) {
    if (e instanceof ModelStoreError) throw e;
    throw new ModelStoreError(`cannot remove ${target}: ${why(e)}`);
  }
}
