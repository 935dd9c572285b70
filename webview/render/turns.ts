/**
 * The transcript: one `.turn[data-role][data-id][data-streaming]` per turn, with `.turn-body`,
 * `details.reasoning` (collapsed) and a footer for errors, cancellation, limits and stats.
 *
 * Streaming: deltas only mark a turn dirty; the turn is re-rendered at most once per animation
 * frame, and less often when rendering gets slow (a long answer costs more to re-parse), so a fast
 * token stream never queues up work. Only the parts whose text changed are touched, so an opened
 * reasoning section stays open and a focused code-block button keeps its focus.
 * Scrolling stays pinned to the bottom while the user is there; scrolling up unpins it until they
 * come back down (or send a new message).
 */
import type { Turn } from '../protocol.ts';
import { h } from './dom.ts';
import { renderMarkdown } from './markdown.ts';

/** How close to the bottom (px) still counts as "at the bottom". */
const PIN_SLACK = 32;
/** Longest pause between two renders of a streaming turn, however slow rendering gets (ms). */
const MAX_RENDER_GAP = 250;

interface Entry {
  turn: Turn;
  el: HTMLElement;
  body: HTMLElement;
  footer: HTMLElement;
  context: HTMLElement | null;
  reasoning: { details: HTMLDetailsElement; summary: HTMLElement; text: HTMLElement } | null;
  /** What is in the DOM now, to skip unchanged parts. */
  shown: { content: string | null; reasoning: string | null; footer: string | null; context: string | null; streaming: boolean | null };
}

export class Transcript {
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private pending = false;
  private lastCost = 0;
  private lastRenderAt = 0;
  private stick = true;

  constructor(
    private readonly scroller: HTMLElement,
    private readonly list: HTMLElement,
    private readonly empty: HTMLElement,
  ) {
    scroller.addEventListener('scroll', () => (this.stick = this.atBottom()), { passive: true });
    // The view or the composer changed size: stay at the bottom if we were there.
    new ResizeObserver(() => this.stick && this.scrollToEnd()).observe(scroller);
  }

  /** Replaces the whole transcript (a `state` message); turns that did not change are kept as they are. */
  setTurns(turns: readonly Turn[]): void {
    // A first render or a new chat starts at the bottom; otherwise the user's scroll position stands.
    if (this.entries.size === 0 || turns.length === 0) this.stick = true;
    const keep = new Set(turns.map((t) => t.id));
    for (const [id, e] of this.entries) {
      if (!keep.has(id)) {
        e.el.remove();
        this.entries.delete(id);
        this.dirty.delete(id);
      }
    }
    let prev: Element | null = null;
    for (const turn of turns) {
      const e = this.entries.get(turn.id) ?? this.create(turn);
      e.turn = { ...turn };
      this.render(e);
      // Move only what is out of place, so focus and open <details> survive.
      const want: Element | null = prev ? prev.nextElementSibling : this.list.firstElementChild;
      if (want !== e.el) this.list.insertBefore(e.el, want);
      prev = e.el;
    }
    this.updateEmpty();
    if (this.stick) this.scrollToEnd();
  }

  /** Adds a turn or replaces one (`turn` and `done` messages): rendered at once. */
  upsert(turn: Turn): void {
    const existing = this.entries.get(turn.id);
    const e = existing ?? this.create(turn);
    e.turn = { ...turn };
    this.dirty.delete(turn.id);
    this.render(e);
    if (!existing) {
      this.list.append(e.el);
      this.updateEmpty();
      // Sending a message means the user wants to follow the answer.
      if (turn.role === 'user') this.stick = true;
    }
    if (this.stick) this.scrollToEnd();
  }

  /** Appends streamed text to a turn; the DOM catches up on the next frame. */
  delta(id: string, content?: string, reasoning?: string): void {
    let e = this.entries.get(id);
    if (!e) {
      // A delta before its `turn` message: start the assistant turn rather than drop text.
      this.upsert({ id, role: 'assistant', content: '', streaming: true });
      e = this.entries.get(id)!;
    }
    if (content) e.turn.content += content;
    if (reasoning) e.turn.reasoning = (e.turn.reasoning ?? '') + reasoning;
    this.dirty.add(id);
    this.schedule();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    // Adaptive throttle: wait a few times the last render's cost, so rendering takes at most
    // about a quarter of the time however long the answer grows.
    const wait = Math.min(MAX_RENDER_GAP, this.lastCost * 4) - (performance.now() - this.lastRenderAt);
    const frame = () => requestAnimationFrame(() => this.flush());
    if (wait > 1) setTimeout(frame, wait);
    else frame();
  }

  private flush(): void {
    this.pending = false;
    if (this.dirty.size === 0) return;
    const t0 = performance.now();
    for (const id of this.dirty) {
      const e = this.entries.get(id);
      if (e) this.render(e);
    }
    this.dirty.clear();
    const t1 = performance.now();
    this.lastCost = t1 - t0;
    this.lastRenderAt = t1;
    if (this.stick) this.scrollToEnd();
  }

  private create(turn: Turn): Entry {
    const who = turn.role === 'user' ? 'You' : 'Switchyard';
    const body = h('div', { class: 'turn-body' });
    const footer = h('div', { class: 'turn-footer' });
    const el = h(
      'article',
      { class: 'turn', 'data-role': turn.role, 'data-id': turn.id, 'aria-label': who },
      h('div', { class: 'turn-header' }, h('span', { class: 'turn-role' }, who)),
      body,
      footer,
    );
    const e: Entry = { turn, el, body, footer, context: null, reasoning: null, shown: { content: null, reasoning: null, footer: null, context: null, streaming: null } };
    this.entries.set(turn.id, e);
    return e;
  }

  private render(e: Entry): void {
    const t = e.turn;
    const streaming = Boolean(t.streaming);
    if (e.shown.streaming !== streaming) {
      e.el.dataset.streaming = String(streaming);
      // Screen readers hold a busy region's changes until it is done: one announcement, not one per frame.
      e.el.setAttribute('aria-busy', String(streaming));
      if (e.reasoning) e.reasoning.summary.textContent = streaming ? 'Thinking\u2026' : 'Reasoning';
      e.shown.streaming = streaming;
    }
    this.renderContext(e);
    this.renderReasoning(e, streaming);
    if (e.shown.content !== t.content) {
      if (t.role === 'user') e.body.textContent = t.content;
      else this.renderAnswer(e.body, t.content);
      e.shown.content = t.content;
    }
    this.renderFooter(e, streaming);
  }

  private renderContext(e: Entry): void {
    const labels = e.turn.role === 'user' ? (e.turn.context ?? []) : [];
    const key = labels.join('\n');
    if (e.shown.context === key) return;
    e.shown.context = key;
    if (labels.length === 0) {
      e.context?.remove();
      e.context = null;
      return;
    }
    const list = h('ul', { class: 'turn-context', 'aria-label': 'Context sent with this message' }, ...labels.map((l) => h('li', {}, l)));
    if (e.context) e.context.replaceWith(list);
    else e.body.before(list);
    e.context = list;
  }

  private renderReasoning(e: Entry, streaming: boolean): void {
    const text = e.turn.reasoning ?? '';
    if (e.shown.reasoning === text) return;
    e.shown.reasoning = text;
    if (!text) {
      e.reasoning?.details.remove();
      e.reasoning = null;
      return;
    }
    if (!e.reasoning) {
      const summary = h('summary', {}, streaming ? 'Thinking\u2026' : 'Reasoning');
      const body = h('div', { class: 'reasoning-body' });
      // Collapsed: no `open` attribute. Once created it is only updated, so the user's choice sticks.
      const details = h('details', { class: 'reasoning' }, summary, body) as HTMLDetailsElement;
      e.body.before(details);
      e.reasoning = { details, summary, text: body };
    }
    e.reasoning.text.textContent = text;
  }

  /** Markdown into `.turn-body`, putting focus back on the same code-block button if it had it. */
  private renderAnswer(body: HTMLElement, content: string): void {
    const active = document.activeElement;
    let focus: { block: number; action: string } | null = null;
    if (active instanceof HTMLElement && body.contains(active) && active.dataset.action) {
      const block = active.closest('.code-block');
      focus = { block: Array.prototype.indexOf.call(body.querySelectorAll('.code-block'), block), action: active.dataset.action };
    }
    body.replaceChildren(renderMarkdown(content));
    if (focus) {
      const block = body.querySelectorAll('.code-block')[focus.block];
      block?.querySelector<HTMLElement>(`[data-action="${focus.action}"]`)?.focus();
    }
  }

  private renderFooter(e: Entry, streaming: boolean): void {
    const t = e.turn;
    const key = JSON.stringify([streaming, t.error, t.finishReason, t.stats, t.role]);
    if (e.shown.footer === key) return;
    e.shown.footer = key;
    const parts: Node[] = [];
    if (streaming && t.role === 'assistant') {
      parts.push(h('span', { class: 'turn-progress' }, h('vscode-progress-ring', { class: 'turn-ring', 'aria-hidden': 'true' }), 'Generating\u2026'));
    }
    if (t.error) parts.push(h('div', { class: 'turn-error', role: 'alert' }, h('strong', {}, 'Error: '), t.error));
    if (t.finishReason === 'cancelled') parts.push(h('div', { class: 'turn-note cancelled' }, 'Cancelled'));
    else if (t.finishReason === 'length') parts.push(h('div', { class: 'turn-note' }, 'Stopped at the length limit (switchyard.chat.maxTokens).'));
    else if (t.finishReason === 'time') parts.push(h('div', { class: 'turn-note' }, 'Stopped: the time limit was reached.'));
    if (t.stats && !streaming) parts.push(h('div', { class: 'turn-stats' }, t.stats));
    e.footer.replaceChildren(...parts);
    e.footer.hidden = parts.length === 0;
  }

  private updateEmpty(): void {
    this.empty.hidden = this.entries.size > 0;
  }

  private atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= PIN_SLACK;
  }

  private scrollToEnd(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
