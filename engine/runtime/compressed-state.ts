/**
 * The cache of a model whose state is not one row per position (DeepSeek-V4: a sliding window,
 * compressors' pending rows and overlap, compressed entries). Such a state cannot be cut at an
 * arbitrary position by slicing, so it keeps what is needed to rebuild any prefix exactly:
 *   - the token ids it has consumed,
 *   - snapshots of its small parts (window, pending, overlap) every `snapshotEvery` positions and
 *     `promptTail` before each prompt's end, with how many compressed entries existed then (entries
 *     are append-only: a prefix of them is a slice),
 * and trim/copy restore the latest snapshot at or before the cut and re-run the tokens after it.
 * So a keystroke among a prompt's last tokens re-prefills at most `promptTail` tokens plus the edit.
 * Why not llama.cpp's way: its V4 cache refuses partial removal, so every edit there re-reads the prompt.
 */
import * as ort from 'onnxruntime-node';
import type { CacheInput } from '../model/decoder.ts';
import { KvState } from './kv-state.ts';

interface Snapshot {
  /** Copies of the non-append tensors at this position. */
  small: Map<string, ort.Tensor>;
  /** Rows of each append tensor at this position. */
  rows: Map<string, number>;
  bytes: number;
}

/** Runs ids through the model on state (appending to it, snapshots included). */
export type Refill = (state: CompressedKvState, ids: number[]) => Promise<void>;

/** Snapshots kept at most; beyond this every other old one goes (the newest are kept dense). */
export const MAX_SNAPSHOTS = 128;
const KEEP_NEWEST = 32;

export class CompressedKvState extends KvState {
  /** Token ids at positions 0..length-1. */
  tokens: number[] = [];
  private snapshots = new Map<number, Snapshot>();

  constructor(
    tensors: Map<string, ort.Tensor>,
    private readonly layout: CacheInput[],
    private readonly refill: Refill,
    readonly snapshotEvery: number,
    /** A prompt also gets a snapshot this many positions before its end (0: only every snapshotEvery). */
    public promptTail = 0,
  ) {
    super(tensors, null);
  }

  /** Where the prompt being prefilled wants its tail snapshot (-1: none pending). */
  tailAt = -1;

  /**
   * The prompt being prefilled ends at `end`: keep a snapshot `promptTail` positions before it (or
   * where its prefill starts, when less is new), since the next keystroke usually edits the prompt's
   * last tokens. Nothing when a snapshot that close exists.
   */
  override planPrompt(end: number): void {
    this.tailAt = -1;
    if (this.promptTail <= 0 || end <= this.length) return;
    const at = Math.max(this.length, end - this.promptTail);
    const latest = Math.max(0, ...[...this.snapshots.keys()].filter((p) => p <= at));
    if (at - latest < this.promptTail) return;
    if (at === this.length) this.snapshot();
    else this.tailAt = at;
  }

  /** Positions at which a snapshot is kept (ascending). */
  get snapshotPositions(): number[] {
    return [...this.snapshots.keys()].sort((a, b) => a - b);
  }

  /** Records a snapshot at the current length (the session calls this at multiples of snapshotEvery). */
  snapshot(): void {
    const small = new Map<string, ort.Tensor>();
    const rows = new Map<string, number>();
    let bytes = 0;
    for (const c of this.layout) {
      const t = this.tensors.get(c.past)!;
      if (c.append) rows.set(c.past, t.dims[2]!);
      else {
        const data = (t.data as Float32Array).slice();
        small.set(c.past, new ort.Tensor('float32', data, t.dims as number[]));
        bytes += data.byteLength;
      }
    }
    this.snapshots.set(this.length, { small, rows, bytes });
    if (this.snapshots.size > MAX_SNAPSHOTS) {
      const old = this.snapshotPositions.slice(0, -KEEP_NEWEST);
      old.forEach((p, k) => {
        if (k % 2 === 1) this.snapshots.delete(p);
      });
    }
  }

  override async trim(n: number): Promise<void> {
    if (n > this.length || n < 0) throw new Error(`cannot trim a cache of ${this.length} positions to ${n}`);
    if (n === this.length) return;
    await this.#restore(this, n);
  }

  override async copy(n = this.length): Promise<CompressedKvState> {
    if (n > this.length || n < 0) throw new Error(`cannot copy ${n} positions of a cache of ${this.length}`);
    const out = new CompressedKvState(new Map(), this.layout, this.refill, this.snapshotEvery, this.promptTail);
    for (const [name, t] of this.tensors) out.tensors.set(name, new ort.Tensor('float32', (t.data as Float32Array).slice(), t.dims as number[]));
    out.length = this.length;
    out.tokens = this.tokens.slice();
    out.snapshots = new Map(this.snapshots); // snapshots are never mutated: sharing them is safe
    if (n < this.length) await this.#restore(out, n);
    return out;
  }

  override clone(): Promise<CompressedKvState> {
    return this.copy(this.length);
  }

  /** Puts `target` back to position n: the latest snapshot at or before n, then the tokens after it. */
  async #restore(target: CompressedKvState, n: number): Promise<void> {
    let from = 0;
    for (const p of target.snapshots.keys()) if (p <= n && p > from) from = p;
    const snap = target.snapshots.get(from);
    for (const c of this.layout) {
      const cur = target.tensors.get(c.past)!;
      const [, , , d] = cur.dims as number[];
      if (c.append) {
        const rows = snap?.rows.get(c.past) ?? 0;
        target.tensors.set(c.past, new ort.Tensor('float32', (cur.data as Float32Array).slice(0, rows * d!), [1, 1, rows, d!]));
      } else {
        const s = snap?.small.get(c.past);
        target.tensors.set(c.past, s ? new ort.Tensor('float32', (s.data as Float32Array).slice(), s.dims as number[]) : new ort.Tensor('float32', new Float32Array(0), [1, 1, 0, d!]));
      }
    }
    for (const p of [...target.snapshots.keys()]) if (p > from) target.snapshots.delete(p);
    const replay = target.tokens.slice(from, n);
    target.tokens = target.tokens.slice(0, from);
    target.length = from;
    target.fit();
    if (replay.length) await this.refill(target, replay);
  }

  override dispose(): void {
    super.dispose();
    this.tokens = [];
    this.snapshots.clear();
  }

  /** Bytes of the live state plus its snapshots. */
  override get bytes(): number {
    let n = super.bytes;
    for (const s of this.snapshots.values()) n += s.bytes;
    return n;
  }
}
