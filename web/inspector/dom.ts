/** DOM helpers. Data only ever reaches the page as text nodes and attribute values, never as HTML. */

type Child = Node | string | number | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** The element with this id, of the expected type; a page that lacks it is a bug worth failing loudly on. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return element;
}

export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** A `<dt>/<dd>` list from label/value pairs. */
export function fillFacts(list: HTMLDListElement, facts: ReadonlyArray<readonly [string, string]>): void {
  list.replaceChildren(...facts.flatMap(([label, value]) => [el('dt', {}, label), el('dd', {}, value)]));
}

export function timeOfDay(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export function showError(element: HTMLElement, message: string | undefined): void {
  element.hidden = message === undefined;
  element.textContent = message ?? '';
}
