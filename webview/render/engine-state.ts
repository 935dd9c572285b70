/**
 * The engine banner: `#engine-state[data-kind]` with a line of text, progress while loading, and
 * the buttons that fix the state (`button[data-fix]`; main.ts turns clicks into {type:'fix'}).
 *
 * Loading sends many updates (one per percent); the banner is updated in place so a focused fix
 * button keeps its focus, and screen readers hear only changes of kind, not every percent.
 */
import type { EngineKind, EngineView, FixAction } from '../protocol.ts';
import { announce, h } from './dom.ts';

export const FIX_LABELS: Record<FixAction, string> = {
  selectModel: 'Select Model Folder',
  downloadModel: 'Download Model',
  restartEngine: 'Restart Engine',
  showLog: 'Show Log',
  openSettings: 'Open Settings',
  remoteSettings: 'Remote Settings',
  retryRemote: 'Retry',
  setApiKey: 'Set API Key',
};

const KIND_WORDS: Record<EngineKind, string> = {
  idle: 'Engine idle',
  starting: 'Engine starting',
  loading: 'Loading model',
  ready: 'Ready',
  down: 'Engine stopped',
  'no-model': 'No model',
  remote: 'Remote endpoint',
  'remote-down': 'Remote endpoint failing',
};

const BUSY_KINDS: ReadonlySet<EngineKind> = new Set(['starting', 'loading']);

export function renderEngine(root: HTMLElement, engine: EngineView): void {
  // The first render is the page loading, not a change worth announcing.
  const previousKind = root.dataset.rendered ? root.dataset.kind : undefined;
  root.dataset.rendered = 'true';
  root.dataset.kind = engine.kind;

  let icon = root.querySelector<HTMLElement>('.engine-icon');
  let text = root.querySelector<HTMLElement>('.engine-message');
  let bar = root.querySelector<HTMLElement>('.engine-progress');
  let fixes = root.querySelector<HTMLElement>('.engine-fixes');
  let note = root.querySelector<HTMLElement>('.engine-note');
  if (!icon || !text || !bar || !fixes || !note) {
    icon = h('span', { class: 'engine-icon', 'aria-hidden': 'true' });
    text = h('span', { class: 'engine-message' });
    bar = h('div', { class: 'engine-progress', role: 'progressbar', 'aria-label': 'Model loading', 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div', { class: 'engine-progress-fill' }));
    fixes = h('div', { class: 'engine-fixes' });
    note = h('p', { class: 'engine-note' });
    root.replaceChildren(h('div', { class: 'engine-line' }, icon, text), bar, note, fixes);
  }

  const busy = BUSY_KINDS.has(engine.kind);
  // The toolkit's ring while something is under way, a status dot otherwise.
  const wantRing = busy ? 'ring' : 'dot';
  if (icon.dataset.shape !== wantRing) {
    icon.dataset.shape = wantRing;
    icon.replaceChildren(busy ? h('vscode-progress-ring', { class: 'engine-ring' }) : h('span', { class: 'engine-dot' }));
  }

  text.textContent = engine.message || KIND_WORDS[engine.kind];
  root.title = text.textContent;

  const percent = engine.percent;
  if (busy && typeof percent === 'number' && Number.isFinite(percent)) {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    bar.hidden = false;
    bar.setAttribute('aria-valuenow', String(p));
    // CSSOM, not a style attribute: allowed under the CSP (style-src has no 'unsafe-inline').
    (bar.firstElementChild as HTMLElement).style.width = `${p}%`;
  } else {
    bar.hidden = true;
    bar.removeAttribute('aria-valuenow');
  }

  if (note.textContent !== (engine.note ?? '')) note.textContent = engine.note ?? '';
  note.hidden = !engine.note;

  // Rebuild the buttons only when the set changes, so focus on one survives progress updates.
  const key = engine.fixes.join(',');
  if (fixes.dataset.key !== key) {
    fixes.dataset.key = key;
    fixes.replaceChildren(
      ...engine.fixes.map((fix, i) =>
        h('button', { type: 'button', class: i === 0 ? 'fix primary' : 'fix', 'data-fix': fix }, FIX_LABELS[fix] ?? fix),
      ),
    );
  }
  fixes.hidden = engine.fixes.length === 0;

  if (previousKind !== undefined && previousKind !== engine.kind) announce(`${KIND_WORDS[engine.kind]}: ${text.textContent}`);
}
