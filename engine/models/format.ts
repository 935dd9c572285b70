/**
 * Texts for model downloads and the model list, shared by the CLI and the extension (no 'vscode').
 */
import type { DownloadProgress } from './download.ts';

const MB = 1e6;

/** Decimal megabytes/gigabytes, as download sizes are usually quoted: "512.3 MB", "15.71 GB". */
export function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** "12.3 MB/s", or '' before there is a rate. */
export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatSize(bytesPerSecond)}/s` : '';
}

/** Seconds left at the current rate, as "2 min 5 s" / "40 s"; '' when unknown. */
export function formatEta(p: Pick<DownloadProgress, 'bytesDone' | 'bytesTotal' | 'bytesPerSecond'>): string {
  if (p.bytesPerSecond <= 0 || p.bytesTotal <= p.bytesDone) return '';
  const s = Math.ceil((p.bytesTotal - p.bytesDone) / p.bytesPerSecond);
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** One line: "1.20 GB / 15.71 GB (8%) model-00001-of-00004.safetensors, 45.1 MB/s, 5 min 22 s left". */
export function describeProgress(p: DownloadProgress): string {
  if (p.phase === 'listing') return 'listing files';
  if (p.phase === 'done') return `done: ${formatSize(p.bytesTotal)} in ${p.filesTotal} files`;
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  const extras = [p.phase === 'verifying' ? 'verifying' : formatRate(p.bytesPerSecond), formatEta(p) && `${formatEta(p)} left`].filter(Boolean);
  return `${formatSize(p.bytesDone)} / ${formatSize(p.bytesTotal)} (${pct}%) ${p.file}${extras.length ? `, ${extras.join(', ')}` : ''}`;
}
