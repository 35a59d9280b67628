import type { StateNodeTree } from '../../src/inspector/inspector-protocol.js';
import { el } from './dom.js';

/**
 * The machine's state nodes as nested boxes, built from the tree the server reads off the machine definition. The
 * current leaf carries `aria-current="true"`; its ancestors are marked as containing it.
 */
export class StatechartView {
  private readonly nodes = new Map<string, HTMLLIElement>();
  private readonly parents = new Map<string, string>();

  constructor(private readonly container: HTMLElement) {}

  draw(tree: StateNodeTree): void {
    this.nodes.clear();
    this.parents.clear();
    this.container.replaceChildren(el('ul', { class: 'chart' }, this.node(tree, undefined)));
  }

  private node(tree: StateNodeTree, parent: string | undefined): HTMLLIElement {
    const item = el('li', { 'data-state-node': tree.key, 'data-state-id': tree.id }, el('span', { class: 'state-name' }, tree.key));
    if (tree.children.length > 0) item.append(el('ul', {}, ...tree.children.map((child) => this.node(child, tree.key))));
    this.nodes.set(tree.key, item);
    if (parent !== undefined) this.parents.set(tree.key, parent);
    return item;
  }

  highlight(current: string): void {
    for (const [key, item] of this.nodes) {
      if (key === current) item.setAttribute('aria-current', 'true');
      else item.removeAttribute('aria-current');
      item.classList.remove('contains-current');
    }
    for (let parent = this.parents.get(current); parent !== undefined; parent = this.parents.get(parent)) {
      this.nodes.get(parent)?.classList.add('contains-current');
    }
  }
}
