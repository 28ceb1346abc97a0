/* The page's state, shared by the modules. */

export const state = {
  graphs: [],
  graph: null,            // the chosen graph's listing
  audio: {},              // port -> {blob, name}
  running: false,
  runToken: 0,
  objectUrls: [],         // blob: URLs of the current outputs, revoked on the next run
  inputUrls: {},          // port -> blob: URL of the input preview
  retry: null,            // what to do again once an API key has been given
  recorder: null,         // the recording in progress, if any
  loadingExample: false   // an example's recordings are being fetched: Run waits
};

/* The listing of the served graph called `name`, or null. */
export function findGraph(name) {
  return state.graphs.find((g) => g.name === name) || null;
}

/* The graph named in the address (#graph=name), or "". */
export function graphFromHash() {
  const m = location.hash.match(/graph=([^&]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}
