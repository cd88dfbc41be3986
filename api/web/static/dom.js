// Building the DOM from data without ever parsing it as markup: every piece of text that came
// from the API (a statement, a rationale, a label) goes in through textContent or a text node.
// There is deliberately no helper that takes HTML.

/**
 * Create an element.
 * @param {string} tag
 * @param {Object<string, *>} [props] attributes; `text` sets textContent, `class` the class
 *   name, `on<event>` adds a listener; null, undefined and false are skipped.
 * @param {...(Node|string|number|null|Array)} children appended as nodes or text nodes
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/**
 * Append nodes or text (never markup) to a parent.
 * @param {Node} parent
 * @param {Array} children
 */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Remove every child of a node. */
export function clear(node) {
  node.replaceChildren();
}

/** Replace the children of a node. */
export function show(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A small "text + icon" flag; the icon is decoration, the word carries the meaning. */
export function flag(kind, word) {
  return el(
    "span",
    { class: `flag flag-${kind}` },
    el("span", { class: "flag-icon", "aria-hidden": "true", text: kind === "overdue" ? "⚠" : "•" }),
    " ",
    word,
  );
}
