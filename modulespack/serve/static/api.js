/* Talking to the API next to the page: fetch with the API key, errors as ApiError, graph URLs.
 *   GET  graphs                      -> [{name, description, inputs: {port: {dtype, shape, doc, kind}}, outputs}]
 *   GET  graphs/{name}/diagram       -> SVG, `?timings=<JSON node->ms>` puts timings in the labels
 *   POST graphs/{name}/run           -> {outputs, timings_ms, seconds} or {error, port?, node?}
 */
import { apiKey } from "./apikey.js";
import { findGraph } from "./state.js";
import { messageOf } from "./format.js";

export class ApiError extends Error {
  constructor(message, info) {
    super(message);
    info = info || {};
    this.name = "ApiError";
    this.status = info.status || 0;
    this.port = info.port;
    this.node = info.node;
    this.detail = info.detail;
  }
}

function errorFromBody(status, body, text) {
  if (body && typeof body === "object") {
    let msg = body.error;
    // FastAPI's own errors come as {"detail": "..."} or {"detail": [{loc, msg}, ...]}
    if (!msg && body.detail !== undefined) {
      if (typeof body.detail === "string") msg = body.detail;
      else if (Array.isArray(body.detail)) {
        msg = body.detail.map((d) => {
          const loc = Array.isArray(d.loc) ? d.loc.join(".") + ": " : "";
          return loc + (d.msg || JSON.stringify(d));
        }).join("; ");
      } else msg = JSON.stringify(body.detail);
    }
    if (typeof msg === "object") msg = JSON.stringify(msg);
    return new ApiError(msg || "HTTP " + status, {
      status: status, port: body.port, node: body.node,
      detail: body.traceback || body.details || body.type
    });
  }
  const excerpt = (text || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300);
  return new ApiError("HTTP " + status + (excerpt ? ": " + excerpt : ""), { status: status });
}

/* fetch with the API key; resolves to the Response when it is ok, rejects with an ApiError. */
export function request(path, options) {
  options = options || {};
  const headers = new Headers(options.headers || {});
  const key = apiKey();
  if (key) headers.set("X-API-Key", key);
  const init = { method: options.method || "GET", headers: headers, body: options.body, signal: options.signal };
  return fetch(path, init).then((resp) => {
    if (resp.ok) return resp;
    return resp.text().then((text) => {
      let body = null;
      try { body = JSON.parse(text); } catch (e) { /* not JSON */ }
      const err = errorFromBody(resp.status, body, text);
      if (resp.status === 401) {
        err.message = key
          ? "The API key was not accepted (" + err.message + "). Check it and try again."
          : "This server needs an API key. Enter it above, then try again.";
      }
      throw err;
    });
  }, (netErr) => {
    if (netErr && netErr.name === "AbortError") throw netErr;
    throw new ApiError("Could not reach the server: " + messageOf(netErr));
  });
}

export function requestJSON(path, options) {
  return request(path, options).then((resp) => resp.text()).then((text) => {
    try { return JSON.parse(text); } catch (e) {
      throw new ApiError("The server's answer is not JSON: " + text.slice(0, 200));
    }
  });
}

/* The URL of a graph's `tail` ("/run", "/diagram?…"): the listing's own links when it has them. */
export function graphPath(name, tail) {
  const g = findGraph(name);
  if (g && tail === "/run" && typeof g.run === "string") return g.run;
  if (g && tail.startsWith("/diagram") && typeof g.diagram === "string") return g.diagram + tail.slice(8);
  return "graphs/" + encodeURIComponent(name) + tail;
}
