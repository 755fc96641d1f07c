// DOM helpers shared by the toolkit's pages (review/index.html, leaderboard.html), inlined before
// each page's own script: an element is made with its text as textContent, never parsed as HTML.
"use strict";
const byId = (id) => document.getElementById(id);
function el(tag, attributes, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children || []) node.append(child);
  return node;
}
