/**
 * Messages between the chat webview (webview/, browser code) and its host in the extension
 * (extension/chat/). Both sides import this one module, so a change to a message is a type error
 * on both. The host owns the state (history, chips, engine status); the view renders what it is
 * sent and reports what the user did.
 *
 * DOM contract the end-to-end tests rely on (keep these stable):
 *   #prompt (the message input), #send, #stop, #new-chat, #add-file,
 *   #engine-state[data-kind=<EngineView.kind>] with its fix buttons as button[data-fix=<FixAction>]
 *   and its note as .engine-note,
 *   #budget (text "used / total tokens"), .chip[data-kind=<ChipKind>] with button.chip-remove,
 *   .turn[data-role=user|assistant][data-id=<id>][data-streaming=true|false] containing .turn-body,
 *   details.reasoning (collapsed) for reasoning text,
 *   .code-block[data-lang] with pre code and buttons [data-action=copy|insert|apply] (apply's title
 *   says what it will do), #notice (a line of information or an error).
 */

import type { EditorInfo } from './apply-target.ts';

export type ChipKind = 'selection' | 'file' | 'mention';

export interface Chip {
  id: string;
  kind: ChipKind;
  /** "main.py:12-30", "main.py", "utils/io.py". */
  label: string;
  /** Tokens this chip adds to the prompt (after trimming to the budget). */
  tokens: number;
  /** Trimmed to fit the budget: the label says so in a tooltip. */
  truncated?: boolean;
}

export interface Turn {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  /** `<think>` text of reasoning models, shown collapsed. */
  reasoning?: string;
  /** Labels of the chips sent with a user turn. */
  context?: string[];
  streaming?: boolean;
  finishReason?: 'stop' | 'length' | 'time' | 'cancelled';
  /** The request failed: shown under the turn, with the partial answer kept. */
  error?: string;
  /** Finished assistant turns: tokens and speed, for the footer. */
  stats?: string;
}

/** 'remote-down': switchyard.remote.endpoint is set and does not answer (or answers with errors). */
export type EngineKind = 'idle' | 'starting' | 'loading' | 'ready' | 'down' | 'no-model' | 'remote' | 'remote-down';
export type FixAction = 'selectModel' | 'downloadModel' | 'restartEngine' | 'showLog' | 'openSettings' | 'remoteSettings' | 'retryRemote' | 'setApiKey';

export interface EngineView {
  kind: EngineKind;
  /** One line: "Loading DeepSeek-Coder-V2-Lite: building 40%", "Engine stopped after 5 crashes". */
  message: string;
  percent?: number;
  /** Buttons that fix the state, in order. */
  fixes: FixAction[];
  /** A standing remark under the line (#engine-state .engine-note), e.g. what the demo model cannot show. */
  note?: string;
}

export interface Budget {
  used: number;
  total: number;
}

export interface ViewState {
  turns: Turn[];
  chips: Chip[];
  budget: Budget;
  engine: EngineView;
  busy: boolean;
}

/** Host -> view. */
export type HostMessage =
  | { type: 'state'; state: ViewState }
  | { type: 'engine'; engine: EngineView }
  | { type: 'context'; chips: Chip[]; budget: Budget }
  | { type: 'turn'; turn: Turn }
  | { type: 'delta'; id: string; content?: string; reasoning?: string }
  | { type: 'done'; turn: Turn; busy: boolean }
  | { type: 'focus' }
  /** The editor Apply to File would act on (undefined: none), for the Apply button's tooltip. */
  | { type: 'editor'; info?: EditorInfo }
  /** The file picker closed (`added`: a file was picked); VS Code's focus is back on the view. */
  | { type: 'picked'; added: boolean }
  | { type: 'notice'; level: 'info' | 'error'; text: string };

/** View -> host. */
export type ViewMessage =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'addFile' }
  | { type: 'removeChip'; id: string }
  | { type: 'copy'; code: string }
  | { type: 'insert'; code: string }
  | { type: 'apply'; code: string; lang?: string }
  | { type: 'fix'; action: FixAction };

/** Runtime check for messages arriving from the view (it is a separate, less trusted context). */
export function isViewMessage(m: unknown): m is ViewMessage {
  if (!m || typeof m !== 'object') return false;
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'ready':
    case 'stop':
    case 'newChat':
    case 'addFile':
      return true;
    case 'send':
      return typeof o.text === 'string';
    case 'removeChip':
      return typeof o.id === 'string';
    case 'copy':
    case 'insert':
      return typeof o.code === 'string';
    case 'apply':
      return typeof o.code === 'string' && (o.lang === undefined || typeof o.lang === 'string');
    case 'fix':
      return ['selectModel', 'downloadModel', 'restartEngine', 'showLog', 'openSettings', 'remoteSettings', 'retryRemote', 'setApiKey'].includes(o.action as string);
    default:
      return false;
  }
}
