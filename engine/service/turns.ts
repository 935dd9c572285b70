/**
 * Who runs the next forward pass. One model session serves many requests; each request takes a
 * turn for every forward (a prefill chunk or one decode step) and gives it back, so between any two
 * steps a waiting completion gets the session before chat continues: completions pre-empt chat at
 * decode-step granularity without any request losing its KV state (each request owns its own).
 *
 * Written by hand: it is a small priority semaphore tied to our step loop.
 */
export type Priority = 'completion' | 'chat';

const RANK: Record<Priority, number> = { completion: 0, chat: 1 };

interface Waiter {
  rank: number;
  seq: number;
  grant: () => void;
  fail: (e: unknown) => void;
}

export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

export class Turns {
  #busy = false;
  #waiting: Waiter[] = [];
  #seq = 0;

  get waiting(): number {
    return this.#waiting.length;
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** True when someone of higher priority than `p` is waiting (a long prefill can yield early). */
  outranked(p: Priority): boolean {
    return this.#waiting.some((w) => w.rank < RANK[p]);
  }

  /** Resolves with a release function once it is this caller's turn; rejects if `signal` aborts first. */
  acquire(p: Priority, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        rank: RANK[p],
        seq: this.#seq++,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.#busy = false;
            this.#next();
          });
        },
        fail: reject,
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(w);
        if (i >= 0) {
          this.#waiting.splice(i, 1);
          reject(new CancelledError());
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(w);
      this.#next();
    });
  }

  #next(): void {
    if (this.#busy || this.#waiting.length === 0) return;
    this.#waiting.sort((a, b) => a.rank - b.rank || a.seq - b.seq);
    const w = this.#waiting.shift()!;
    this.#busy = true;
    w.grant();
  }
}
