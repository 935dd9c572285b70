/**
 * Other files' text as candidate context: fixed line-aligned chunks, the identifiers in them, and
 * Jaccard similarity between identifier sets (the measure Copilot-style "similar snippets" use:
 * cheap, language-agnostic, and good at finding the definitions and call sites that share names
 * with the code around the cursor).
 */

export interface Chunk {
  /** Stable key: path, first line and a hash of the text (so an edited chunk is a new chunk). */
  key: string;
  /** Workspace-relative path shown to the model. */
  path: string;
  languageId: string;
  startLine: number;
  text: string;
  ids: ReadonlySet<string>;
  /** ms timestamp of the latest visit or edit inside the chunk (0 = none), for tie-breaks. */
  recency: number;
  /** The user edited inside it lately (a small ranking bonus). */
  edited: boolean;
}

export const CHUNK_LINES = 30;

/** Words too common in code to say two pieces are related. */
const STOP = new Set(
  (
    'if else elif for while do return const let var function def class import from export default ' +
    'self this true false null none nil undefined new in of and or not is as with try catch except ' +
    'finally throw raise public private protected static void int string bool async await yield pass ' +
    'break continue case switch end then fn pub mut use struct impl type interface extends implements ' +
    'package func go err the to a an'
  ).split(' '),
);

const ID = /[A-Za-z_$][A-Za-z0-9_$]*/g;

/** Identifiers of 2+ characters, lower-cased, minus very common keywords. */
export function identifiers(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(ID)) {
    const w = m[0].toLowerCase();
    if (w.length >= 2 && !STOP.has(w)) out.add(w);
  }
  return out;
}

export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/** FNV-1a, enough to tell edited chunks apart in a key. */
export function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

export interface ChunkSource {
  path: string;
  languageId: string;
  text: string;
  /** Lines recently visited/edited in this file: line -> {at, edited}. */
  activity?: ReadonlyMap<number, { at: number; edited: boolean }>;
}

/**
 * Cuts a file into chunks of `lines` lines starting at multiples of `lines` (a fixed grid, so a
 * chunk keeps its key while the rest of the file changes around it). Blank chunks are skipped.
 */
export function chunkFile(src: ChunkSource, lines = CHUNK_LINES, maxChunks = 400): Chunk[] {
  const all = src.text.split('\n');
  const out: Chunk[] = [];
  for (let start = 0; start < all.length && out.length < maxChunks; start += lines) {
    const text = all.slice(start, start + lines).join('\n');
    if (text.trim().length === 0) continue;
    let recency = 0;
    let edited = false;
    for (const [line, a] of src.activity ?? []) {
      if (line >= start && line < start + lines) {
        recency = Math.max(recency, a.at);
        edited ||= a.edited;
      }
    }
    out.push({ key: `${src.path}:${start}:${hash(text)}`, path: src.path, languageId: src.languageId, startLine: start, text, ids: identifiers(text), recency, edited });
  }
  return out;
}

/**
 * The same chunks with recency/edited taken from `activity` (chunkFile's results are cached per
 * document version; activity changes more often than text).
 */
export function withActivity(chunks: readonly Chunk[], activity: ReadonlyMap<number, { at: number; edited: boolean }>, lines = CHUNK_LINES): Chunk[] {
  if (activity.size === 0) return [...chunks];
  return chunks.map((c) => {
    let recency = 0;
    let edited = false;
    for (const [line, a] of activity) {
      if (line >= c.startLine && line < c.startLine + lines) {
        recency = Math.max(recency, a.at);
        edited ||= a.edited;
      }
    }
    return recency === c.recency && edited === c.edited ? c : { ...c, recency, edited };
  });
}
