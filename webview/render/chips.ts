/**
 * Context chips (`.chip[data-kind]` with `button.chip-remove`) and the token budget (`#budget`,
 * text "used / total tokens"). main.ts turns clicks on a remove button into {type:'removeChip'}.
 */
import type { Budget, Chip, ChipKind } from '../protocol.ts';
import { h } from './dom.ts';

const KIND_LABELS: Record<ChipKind, string> = { selection: 'Selection', file: 'File', mention: '@' };

/** 1234 -> "1.2k": the chip's own count is a hint; the budget line keeps exact numbers. */
export function shortCount(n: number): string {
  if (n < 1000) return String(n);
  return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
}

export function renderChips(list: HTMLElement, chips: readonly Chip[]): void {
  // Keep focus on the list when its focused chip goes away (removed with the keyboard).
  const hadFocus = list.contains(document.activeElement);
  const focusedChip = document.activeElement?.closest<HTMLElement>('.chip');
  const oldIndex = focusedChip ? Array.prototype.indexOf.call(list.children, focusedChip) : -1;
  const newIndex = chips.findIndex((c) => c.id === focusedChip?.dataset.id);

  list.replaceChildren(
    ...chips.map((chip) => {
      const title = `${chip.label}: ${chip.tokens} tokens${chip.truncated ? ' (trimmed to fit the budget)' : ''}`;
      return h(
        'span',
        { class: chip.truncated ? 'chip truncated' : 'chip', role: 'listitem', 'data-kind': chip.kind, 'data-id': chip.id, title },
        h('span', { class: 'chip-kind' }, KIND_LABELS[chip.kind] ?? chip.kind),
        h('span', { class: 'chip-label' }, chip.label),
        // A plain span styled as a badge, not the toolkit's vscode-tag/vscode-badge: their (FAST Badge)
        // template carries a style attribute, which the CSP blocks and reports on every render.
        h('span', { class: 'chip-tokens', 'aria-label': `${chip.tokens} tokens` }, shortCount(chip.tokens) + (chip.truncated ? '*' : '')),
        h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${chip.label} from the context`, title: 'Remove' }, '\u00d7'),
      );
    }),
  );
  list.hidden = chips.length === 0;

  if (hadFocus) {
    const buttons = list.querySelectorAll<HTMLButtonElement>('button.chip-remove');
    // The same chip if it is still there, else the one that took its place (or the one before).
    const target = buttons[newIndex >= 0 ? newIndex : Math.min(Math.max(oldIndex, 0), buttons.length - 1)];
    if (target) target.focus();
    else document.getElementById('prompt')?.focus();
  }
}

export function renderBudget(el: HTMLElement, budget: Budget): void {
  el.textContent = `${budget.used} / ${budget.total} tokens`;
  const ratio = budget.total > 0 ? budget.used / budget.total : 0;
  el.classList.toggle('over', ratio > 1);
  el.classList.toggle('near', ratio > 0.9 && ratio <= 1);
  el.title = `Context: ${budget.used} of ${budget.total} tokens${ratio > 1 ? ' (over the budget: the context is trimmed)' : ''}`;
}
