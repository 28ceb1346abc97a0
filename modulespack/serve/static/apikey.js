/* The API key: kept in sessionStorage (this tab only), typed into the header's key form. */
import { $ } from "./dom.js";

const KEY_STORE = "modulespack.apiKey";

export function apiKey() {
  try { return sessionStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  } catch (e) { /* storage disabled: the key is lost on reload */ }
}

export function showKeyForm(focus) {
  $("api-key-form").hidden = false;
  $("api-key").value = apiKey();
  if (focus) $("api-key").focus();
}

/* Wire the form; `onKey` runs once a key has been given (or cleared) with "Use key". */
export function initKeyForm(onKey) {
  if (apiKey()) showKeyForm(false);
  $("api-key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    storeKey($("api-key").value.trim());
    onKey();
  });
  $("api-key-forget").addEventListener("click", () => {
    storeKey("");
    $("api-key").value = "";
  });
}
