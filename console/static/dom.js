/* The console pages' one DOM builder (QA review, API tokens).
 *
 * Dom.node(tag, attrs, ...children): an element; attrs skip null and undefined (`class` sets
 * the class name, the rest are attributes); children are nodes or text (null and undefined
 * skipped), so nothing from the server is ever read as markup.
 */
(function () {
  "use strict";

  function node(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") n.className = v;
      else n.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }

  window.Dom = { node };
})();
