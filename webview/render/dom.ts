/** A small element builder: DOM nodes only, never HTML strings, so text is always text. */
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | number | boolean | undefined>,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Record<string, string | number | boolean | undefined>, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Puts `text` in the visually hidden live region, for screen readers (state changes worth a word). */
export function announce(text: string): void {
  const region = document.getElementById('sr-announce');
  if (!region) return;
  // Clearing first makes a repeated message count as a change.
  region.textContent = '';
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}
