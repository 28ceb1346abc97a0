/* The "Use it from…" panel: the chosen graph's ready-to-paste calls through every front door it
 * answers (GET graphs/{name}/snippets: curl, the openai client, tritonclient, Home Assistant's Wyoming settings),
 * filled in by the server with the address this page was loaded from, each with a Copy button. */
import { $, el, clear, placeholder } from "./dom.js";
import { requestJSON, graphPath } from "./api.js";

const DOORS = { native: "HTTP API", openai: "OpenAI audio API", wyoming: "Wyoming (Home Assistant)",
                v2: "Open Inference Protocol (tritonclient)" };
let loadToken = 0;

export function loadSnippets(name) {
  const box = $("snippets");
  const mine = ++loadToken;
  placeholder(box, "Loading the calls…");
  requestJSON(graphPath(name, "/snippets")).then((body) => {
    if (mine === loadToken) render(box, (body && body.snippets) || []);
  }).catch((err) => {
    if (mine === loadToken) placeholder(box, "Could not load the calls: " + err.message);
  });
}

function render(box, list) {
  clear(box);
  if (!list.length) {
    placeholder(box, "No calls to show for this graph.");
    return;
  }
  list.forEach((s, i) => {
    const copy = el("button", { type: "button", class: "button small subtle snippet-copy", text: "Copy" });
    copy.addEventListener("click", () => copyText(s.code, copy));
    const summary = el("summary", {}, [
      el("span", { class: "snippet-door", text: DOORS[s.door] || s.door }), " ",
      el("span", { class: "snippet-title", text: s.title })
    ]);
    box.appendChild(el("details", { class: "snippet", "data-door": s.door, open: i === 0 }, [
      summary,
      el("div", { class: "snippet-body" }, [
        el("pre", { class: "snippet-code" }, [el("code", { class: "language-" + s.language, text: s.code })]),
        copy
      ])
    ]));
  });
}

function copyText(text, button) {
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(() => done("Copied"), () => done("Select it to copy"));
  } else {
    done("Select it to copy");  // no clipboard outside secure contexts (plain http to another host)
  }
}
