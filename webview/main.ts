/**
 * The chat view's entry (bundled to dist/webview.js, an IIFE loaded by the HTML from
 * extension/chat/html.ts): registers the toolkit components, renders what the host sends
 * (webview/protocol.ts) and reports what the user does. The host owns the state; the view keeps
 * only the unsent draft (vscode.setState), which VS Code restores when a hidden view comes back.
 */
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeProgressRing } from '@vscode/webview-ui-toolkit';
import { describeApply, type EditorInfo } from './apply-target.ts';
import type { HostMessage, ViewMessage, ViewState } from './protocol.ts';
import { renderBudget, renderChips } from './render/chips.ts';
import { renderEngine } from './render/engine-state.ts';
import { Transcript } from './render/turns.ts';

interface VsCodeApi {
  postMessage(message: ViewMessage): void;
  getState(): unknown;
  setState<T>(state: T): T;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** What survives the view being hidden (VS Code drops the page and keeps this). */
interface SavedState {
  draft?: string;
}

// Only what the view uses (the rest is tree-shaken). Not vscode-tag/vscode-badge: see render/chips.ts.
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeProgressRing());

const vscode = acquireVsCodeApi();
const post = (m: ViewMessage) => vscode.postMessage(m);

function must<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`chat view: #${id} is missing from the page`);
  return el as T;
}

const prompt = must<HTMLTextAreaElement>('prompt');
const send = must('send');
const stop = must('stop');
const newChat = must('new-chat');
const addFile = must('add-file');
const engineEl = must('engine-state');
const chipsEl = must('chips');
const budgetEl = must('budget');
const noticeEl = must('notice');
const transcriptEl = must('transcript');
const transcript = new Transcript(transcriptEl, must('turns'), must('empty-state'));

let busy = false;
/** The editor Apply to File would act on, as the host last said. */
let editorInfo: EditorInfo | undefined;
/** Where the `@` that opened the file picker sits in the prompt, until the host says the picker closed. */
let pickerAt: number | undefined;

// --- the draft ------------------------------------------------------------------------------------

const saved = (vscode.getState() ?? {}) as SavedState;
if (typeof saved.draft === 'string') prompt.value = saved.draft;

function saveDraft(): void {
  vscode.setState<SavedState>({ draft: prompt.value });
}

/** Grows the input with its text up to the CSS max-height (CSSOM: allowed under the CSP). */
function autosize(): void {
  prompt.style.height = 'auto';
  prompt.style.height = `${prompt.scrollHeight + 2}px`;
}

// --- rendering --------------------------------------------------------------------------------------

function setBusy(b: boolean): void {
  busy = b;
  stop.hidden = !b;
  send.hidden = b;
  document.body.classList.toggle('busy', b);
}

function renderState(state: ViewState): void {
  transcript.setTurns(state.turns);
  renderChips(chipsEl, state.chips);
  renderBudget(budgetEl, state.budget);
  renderEngine(engineEl, state.engine);
  setBusy(state.busy);
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
function showNotice(level: 'info' | 'error', text: string): void {
  clearTimeout(noticeTimer);
  noticeEl.textContent = text;
  noticeEl.dataset.level = level;
  noticeEl.setAttribute('role', level === 'error' ? 'alert' : 'status');
  noticeEl.hidden = false;
  // Errors stay until the next message is sent; information goes by itself.
  if (level === 'info') noticeTimer = setTimeout(() => (noticeEl.hidden = true), 6000);
}

function handle(m: HostMessage): void {
  switch (m.type) {
    case 'state':
      renderState(m.state);
      break;
    case 'engine':
      renderEngine(engineEl, m.engine);
      break;
    case 'context':
      renderChips(chipsEl, m.chips);
      renderBudget(budgetEl, m.budget);
      break;
    case 'turn':
      transcript.upsert(m.turn);
      if (m.turn.role === 'assistant' && m.turn.streaming) setBusy(true);
      break;
    case 'delta':
      transcript.delta(m.id, m.content, m.reasoning);
      break;
    case 'done':
      transcript.upsert(m.turn);
      setBusy(m.busy); // an error under the turn is role="alert": screen readers hear it
      break;
    case 'focus':
      prompt.focus();
      break;
    case 'editor':
      editorInfo = m.info;
      for (const b of Array.from(transcriptEl.querySelectorAll<HTMLButtonElement>('.code-block button[data-action="apply"]'))) titleApply(b);
      break;
    case 'picked':
      closePicker(m.added);
      break;
    case 'notice':
      showNotice(m.level, m.text);
      break;
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  const m = event.data as unknown;
  if (!m || typeof m !== 'object' || typeof (m as { type?: unknown }).type !== 'string') return;
  try {
    handle(m as HostMessage);
  } catch (e) {
    // One malformed message must not leave the view dead for the ones after it.
    console.error('chat view: could not handle', (m as { type: string }).type, e);
  }
});

// --- input -------------------------------------------------------------------------------------------

/** Said when Enter is pressed while an answer streams: the draft stays, nothing is queued (see extension/chat/session.ts for why). */
const BUSY_NOTICE = 'An answer is still being written: your message stays here. Press Stop (or Escape) to end the answer, or wait, then press Enter again.';

function submit(): void {
  const text = prompt.value.trim();
  if (!text) return;
  if (busy) {
    showNotice('info', BUSY_NOTICE);
    return;
  }
  post({ type: 'send', text });
  prompt.value = '';
  saveDraft();
  autosize();
  if (noticeEl.dataset.level === 'error') noticeEl.hidden = true;
  prompt.focus();
}

prompt.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing) {
    e.preventDefault();
    submit();
  } else if (e.key === 'Escape' && busy) {
    e.preventDefault();
    post({ type: 'stop' });
  }
});

prompt.addEventListener('input', (e) => {
  saveDraft();
  autosize();
  // `@` typed at the start of a word asks the host for its file picker (an e-mail address does not).
  const ie = e as InputEvent;
  if (ie.inputType === 'insertText' && ie.data === '@') {
    const at = prompt.selectionStart - 1;
    const before = at > 0 ? prompt.value[at - 1]! : '';
    if (prompt.value[at] === '@' && (before === '' || /\s|[([{]/.test(before))) {
      pickerAt = at;
      post({ type: 'addFile' });
    }
  }
});

send.addEventListener('click', () => submit());
stop.addEventListener('click', () => {
  post({ type: 'stop' });
  prompt.focus();
});
newChat.addEventListener('click', () => {
  post({ type: 'newChat' });
  prompt.focus();
});
addFile.addEventListener('click', () => {
  pickerAt = undefined;
  post({ type: 'addFile' });
});

/**
 * The file picker closed (the host has moved VS Code's focus back to this view): the typing goes on
 * in the prompt, never in the editor behind the picker. A picked file becomes a chip, so the `@`
 * that asked for it goes; after Escape it stays (it may have been meant literally, e.g. a decorator).
 */
function closePicker(added: boolean): void {
  const at = pickerAt;
  pickerAt = undefined;
  let caret = prompt.value.length;
  if (at !== undefined && prompt.value[at] === '@') {
    caret = at + 1;
    if (added) {
      prompt.value = prompt.value.slice(0, at) + prompt.value.slice(at + 1);
      caret = at;
      saveDraft();
      autosize();
    }
  }
  prompt.focus();
  prompt.setSelectionRange(caret, caret);
}

engineEl.addEventListener('click', (e) => {
  const button = (e.target as Element).closest<HTMLElement>('button[data-fix]');
  if (button) post({ type: 'fix', action: button.dataset.fix as Extract<ViewMessage, { type: 'fix' }>['action'] });
});

chipsEl.addEventListener('click', (e) => {
  const id = (e.target as Element).closest('button.chip-remove')?.closest<HTMLElement>('.chip')?.dataset.id;
  if (id) post({ type: 'removeChip', id });
});

/** The Apply button's tooltip: what a click does now (replace the selection, a definition, or insert at the cursor). */
function titleApply(button: HTMLButtonElement): void {
  const code = button.closest('.code-block')?.querySelector('pre code')?.textContent ?? '';
  button.title = describeApply(code, editorInfo);
}
// Set when the pointer or the focus reaches the button: blocks rendered since the last 'editor' message too.
for (const type of ['mouseover', 'focusin'] as const) {
  transcriptEl.addEventListener(type, (e) => {
    const b = (e.target as Element).closest?.<HTMLButtonElement>('.code-block button[data-action="apply"]');
    if (b) titleApply(b);
  });
}

// Code-block buttons: the code is read back from the DOM text, which is exactly the fence's content.
const COPIED_MS = 1500;
transcriptEl.addEventListener('click', (e) => {
  const button = (e.target as Element).closest<HTMLButtonElement>('.code-block button[data-action]');
  if (!button) return;
  const block = button.closest<HTMLElement>('.code-block')!;
  const code = block.querySelector('pre code')?.textContent ?? '';
  const lang = block.dataset.lang || undefined;
  switch (button.dataset.action) {
    case 'copy': {
      post({ type: 'copy', code });
      const label = button.textContent;
      button.textContent = 'Copied';
      setTimeout(() => button.isConnected && (button.textContent = label), COPIED_MS);
      break;
    }
    case 'insert':
      post({ type: 'insert', code });
      break;
    case 'apply':
      post(lang ? { type: 'apply', code, lang } : { type: 'apply', code });
      break;
  }
});

// --- start ---------------------------------------------------------------------------------------------

setBusy(false);
autosize();
post({ type: 'ready' });
