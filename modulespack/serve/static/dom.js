/* DOM helpers: look up and build elements, placeholders, icons, CSS variables. */

export const $ = (id) => document.getElementById(id);

/* el("p", {class: "hint", text: "…", onclick: fn}, [child, "text", null]): null/undefined/false
 * attributes and children are skipped, `true` sets an empty attribute, on* adds a listener. `style`
 * goes through the CSSOM: the page's Content-Security-Policy refuses inline style attributes. */
export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children || []) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/* Empty `box` and leave one placeholder paragraph in it. */
export function placeholder(box, text) {
  clear(box);
  box.appendChild(el("p", { class: "placeholder", text: text }));
}

export function slug(text) {
  return String(text).replace(/[^A-Za-z0-9_-]+/g, "-");
}

/* The first element (the input field) that stands for `port`. */
export function fieldFor(port) {
  return document.querySelector('[data-port="' + CSS.escape(String(port)) + '"]');
}

export function svgIcon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.appendChild(path);
  return svg;
}

export function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name);
  return (v && v.trim()) || fallback;
}
