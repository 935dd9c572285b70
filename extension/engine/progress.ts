/**
 * Load progress as one percentage for the status bar. The engine reports phases, each with its own
 * done/total (bytes hashed, tensors quantised, ...); they are mapped onto fixed slices of 0-100 in
 * the order they happen. A cached load skips hashing/building, which only makes the bar jump ahead.
 * The percentage never goes backwards (`monotonic`).
 */
import type { ProgressParams } from '../../engine/protocol/protocol.ts';

const SLICES: Record<ProgressParams['phase'], [number, number]> = {
  reading: [0, 2],
  hashing: [2, 25],
  building: [25, 60],
  quantising: [60, 90],
  'creating session': [90, 99],
  done: [99, 99],
};

export function progressPercent(p: Pick<ProgressParams, 'phase' | 'done' | 'total'>): number {
  const [from, to] = SLICES[p.phase] ?? [0, 0];
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  return Math.floor(from + (to - from) * frac);
}

export function monotonic(previous: number, next: number): number {
  return Math.max(previous, next);
}
