/**
 * `.switchyard-download.json`, written into a model folder by the downloader: which repo and
 * revision it came from and every file with its verified size and hash. It is rewritten after each
 * verified file (complete: false) and once more at the end (complete: true), so a later run skips
 * what was verified without hashing it again, and the model list can tell a finished download
 * from an interrupted one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const MANIFEST_FILE = '.switchyard-download.json';

export interface ManifestFile {
  path: string;
  size: number;
  /** Content sha256 (the hub's LFS oid), for LFS files. */
  sha256?: string;
  /** Git blob sha1 of the content, for files stored in git itself. */
  gitOid?: string;
}

export interface DownloadManifest {
  version: 1;
  repo: string;
  revision: string;
  /** The commit the files came from, when the hub said (X-Repo-Commit). */
  commit?: string;
  hubUrl: string;
  complete: boolean;
  files: ManifestFile[];
  updatedAt: string;
}

/** The manifest in `modelDir`, or undefined when there is none or it is unreadable (treated as absent). */
export function readManifest(modelDir: string): DownloadManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(modelDir, MANIFEST_FILE), 'utf8')) as Partial<DownloadManifest>;
    if (m.version !== 1 || typeof m.repo !== 'string' || !Array.isArray(m.files)) return undefined;
    return m as DownloadManifest;
  } catch {
    return undefined;
  }
}

/** Written through a temporary file and a rename, so a crash never leaves half a manifest. */
export function writeManifest(modelDir: string, m: DownloadManifest): void {
  const file = path.join(modelDir, MANIFEST_FILE);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(m, null, 2) + '\n');
  fs.renameSync(tmp, file);
}
