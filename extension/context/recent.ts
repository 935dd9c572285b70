/**
 * Recently visited and edited places, per file, most recent first: where the user just was is the
 * best guess at what the code being written relates to. Bounded (files and lines per file), so it
 * costs nothing over a long session. Line numbers are recorded as they were at the time; later
 * edits above them shift the real place a little, which only blurs which chunk gets the credit.
 */
export interface Activity {
  at: number;
  edited: boolean;
}

export class RecentActivity {
  readonly #files = new Map<string, Map<number, Activity>>();

  constructor(
    private readonly maxFiles = 20,
    private readonly maxLinesPerFile = 32,
  ) {}

  record(file: string, line: number, edited: boolean, at: number): void {
    let lines = this.#files.get(file);
    if (lines) this.#files.delete(file); // re-insert: Map order = recency
    else lines = new Map();
    this.#files.set(file, lines);
    const prev = lines.get(line);
    lines.delete(line);
    lines.set(line, { at, edited: edited || (prev?.edited ?? false) });
    while (lines.size > this.maxLinesPerFile) lines.delete(lines.keys().next().value!);
    while (this.#files.size > this.maxFiles) this.#files.delete(this.#files.keys().next().value!);
  }

  /** Files with activity, most recent first. */
  files(): string[] {
    return [...this.#files.keys()].reverse();
  }

  lines(file: string): ReadonlyMap<number, Activity> {
    return this.#files.get(file) ?? new Map();
  }

  forget(file: string): void {
    this.#files.delete(file);
  }
}
