// capsviz in-page model: a module Web Worker that runs the exported CapsNet trace (capsviz/export/onnx.py) with
// the vendored onnxruntime-web (WASM only, one thread, so no SharedArrayBuffer and no COOP/COEP headers).
// The trace comes as stages (capsviz/export/stages.py: features, PrimaryCaps' convolution in four slices,
// routing), one session each, run in turn; between two stages the worker reads its messages, so a "cancel" stops
// a reading the page no longer wants after at most one stage (~5 ms) instead of a whole trace.
//
//   new Worker(new URL("./model_worker.js", import.meta.url), { type: "module" })   (model_client.js does this)
//
// Messages in:
//   {type: "init", vendorUrl, preprocessUrl?, model: {hash, url} | {hash, bytes: ArrayBuffer} | {hash}}
//       vendorUrl: the folder holding ort.wasm.min.mjs, ort-wasm-simd-threaded.{mjs,wasm} (default: ../vendor/
//       onnxruntime-web/ beside this file). The model's bytes come from the page's store (Cache API, or IndexedDB
//       where the page is not a secure context) under its hash, else from `bytes`, else from one fetch of `url`;
//       what was fetched or given is stored, so a reload downloads nothing. {hash} alone: the store or an error.
//       The WASM runtime is kept in the same store under its URL.
//   {type: "run", id, image: Float32Array(S*S) in [0, 1], iterations: 1..5}
//   {type: "run", id, drawing: the canvas's stroke payload, iterations}   (28x28 model only) preprocessed here
//       by preprocess.js's drawingToInput (preprocessUrl, default ./preprocess.js beside this file), so the page's
//       main thread only inks; a drawing that reads as nothing (empty, a dot) gives {type: "result", id, empty}.
//   {type: "cancel", id}   the run `id` stops at its next stage boundary and answers {type: "result", id,
//       cancelled: true} (a run already finished answers as usual). Runs are handled one at a time, in order.
// Messages out:
//   {type: "ready", hash, source: "store" | "network" | "bytes", modelBytes, sessionMs, warmMs, side, primary,
//        maxIterations}
//   {type: "result", id, iterations, lengths: Float32Array(k*10), couplings: Float32Array(k*I*10),
//        poses: Float32Array(k*10*16), primary: Float32Array(I*8), prediction, ms, stageMs}
//       row r of lengths / couplings / poses is routing iteration r+1 (the last row: the final values);
//       I = the number of primary capsules (1152; 3200 for the two-digit model); ms: the stages' session.run
//       time, summed (stageMs: each stage's); waitedMs: from the message's arrival to its start.
//       preprocessMs: drawingToInput's time when a drawing was sent.
//   {type: "error", id?, message}       (an init error means the model is unavailable)

const STORE = "capsviz-inpage-v1";
const MAX_MODELS = 3; // model entries kept in the store; older ones are evicted
const OUTPUTS = ["lengths", "couplings", "poses", "primary"];

const MAGIC = "CAPSVIZ-STAGES\n"; // capsviz/export/stages.py's file: MAGIC, u32 header length, JSON, graphs

let ort = null;
let stages = null; // [{name, inputs, outputs, session}] in order
let header = null; // the stages file's header: {input, outputs, ...}
const cancelled = new Set(); // ids of runs to stop at their next stage
let info = null; // {side, primary, maxIterations}
let preprocessUrl = null;
let preprocess = null; // the preprocess.js module, imported on the first drawing

// --- the store: Cache API where there is one, else IndexedDB ----------------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(STORE, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("blobs");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbOp(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction("blobs", mode);
      const req = fn(tx.objectStore("blobs"));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

const storeKey = (key) => `https://capsviz.invalid/${encodeURIComponent(key)}`;

async function storeGet(key) {
  try {
    if (self.caches) {
      const hit = await (await caches.open(STORE)).match(storeKey(key));
      return hit ? await hit.arrayBuffer() : null;
    }
    return (await dbOp("readonly", (s) => s.get(key))) ?? null;
  } catch (err) {
    return null; // a broken store is a cache miss
  }
}

async function storePut(key, bytes) {
  try {
    if (self.caches) {
      const cache = await caches.open(STORE);
      await cache.put(storeKey(key), new Response(bytes.slice(0)));
      const models = (await cache.keys()).filter((r) => r.url.includes("model%3A"));
      for (const old of models.slice(0, Math.max(0, models.length - MAX_MODELS))) await cache.delete(old);
    } else {
      await dbOp("readwrite", (s) => s.put(bytes.slice(0), key));
    }
  } catch (err) {
    // quota or private mode: run from memory, download again next visit
  }
}

async function cachedFetch(key, url) {
  const stored = await storeGet(key);
  if (stored) return { bytes: stored, source: "store" };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = await response.arrayBuffer();
  await storePut(key, bytes);
  return { bytes, source: "network" };
}

// --- the session -------------------------------------------------------------------------------------------

async function modelBytes(model) {
  const key = `model:${model.hash}`;
  if (model.bytes) {
    await storePut(key, model.bytes);
    return { bytes: model.bytes, source: "bytes" };
  }
  if (model.url) return cachedFetch(key, model.url);
  const stored = await storeGet(key);
  if (!stored) throw new Error(`model ${model.hash} is not stored in this browser and no url or bytes were given`);
  return { bytes: stored, source: "store" };
}

// the stages file -> its header and each stage's graph (a view into ``bytes``)
function unpack(bytes) {
  const view = new DataView(bytes);
  const magic = new TextDecoder().decode(new Uint8Array(bytes, 0, Math.min(MAGIC.length, bytes.byteLength)));
  if (magic !== MAGIC || bytes.byteLength < MAGIC.length + 4) throw new Error("not a capsviz stages file");
  const size = view.getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4 + size;
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, MAGIC.length + 4, size)));
  const graphs = head.stages.map((s) => {
    if (start + s.offset + s.length > bytes.byteLength) throw new Error(`stage ${s.name} is cut short`);
    return { ...s, graph: new Uint8Array(bytes, start + s.offset, s.length) };
  });
  return { head, graphs };
}

// a macrotask boundary: messages that arrived meanwhile (a "cancel") are handled before the next stage
const yieldToMessages = () =>
  new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });

// every stage in turn on ``image``; null when run ``id`` was cancelled between two stages
async function trace(image, side, id) {
  const values = new Map([[header.input, new ort.Tensor("float32", image, [1, 1, side, side])]]);
  const stageMs = [];
  try {
    for (const stage of stages) {
      if (id !== undefined) {
        await yieldToMessages();
        if (cancelled.has(id)) return null;
      }
      const feeds = Object.fromEntries(stage.inputs.map((name) => [name, values.get(name)]));
      const t0 = performance.now();
      const out = await stage.session.run(feeds);
      stageMs.push(performance.now() - t0);
      for (const name of stage.outputs) values.set(name, out[name]);
    }
    const result = Object.fromEntries(OUTPUTS.map((name) => [name, values.get(name)]));
    for (const name of OUTPUTS) values.delete(name); // the caller's now
    return { out: result, stageMs };
  } finally {
    for (const [name, tensor] of values) if (name !== header.input) tensor.dispose?.();
  }
}

async function init({ vendorUrl, preprocessUrl: pre, model }) {
  preprocessUrl = pre || new URL("./preprocess.js", import.meta.url).href;
  const base = new URL(vendorUrl || "../vendor/onnxruntime-web/", import.meta.url).href.replace(/\/?$/, "/");
  ort = await import(`${base}ort.wasm.min.mjs`);
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = base;
  const wasmUrl = `${base}ort-wasm-simd-threaded.wasm`;
  ort.env.wasm.wasmBinary = (await cachedFetch(`ort:${wasmUrl}`, wasmUrl)).bytes;
  const got = await modelBytes(model);
  const { head, graphs } = unpack(got.bytes);
  const t0 = performance.now();
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  const sessions = [];
  for (const g of graphs) sessions.push({ ...g, session: await ort.InferenceSession.create(g.graph, options) });
  const sessionMs = performance.now() - t0;
  header = head;
  stages = sessions;
  const side = head.config?.image_size ?? 28;
  // One warm-up run (the first is slow) that also tells the graph's sizes.
  const t1 = performance.now();
  const { out } = await trace(new Float32Array(side * side), side);
  const warmMs = performance.now() - t1;
  const maxIterations = out.lengths.dims[0];
  info = { side, primary: out.couplings.dims[1], maxIterations, stages: stages.length };
  for (const name of OUTPUTS) out[name].dispose?.();
  return { type: "ready", hash: model.hash, source: got.source, modelBytes: got.bytes.byteLength, sessionMs, warmMs, ...info };
}

async function run({ id, image, drawing, iterations }) {
  if (!stages) throw new Error("the model is not loaded");
  const { side, primary, maxIterations } = info;
  let preprocessMs;
  if (drawing) {
    if (side !== 28) throw new Error("drawings are preprocessed for the 28x28 model only");
    preprocess ??= await import(preprocessUrl);
    const t = performance.now();
    image = preprocess.drawingToInput(drawing);
    preprocessMs = performance.now() - t;
    if (!image) return { type: "result", id, empty: true, preprocessMs };
  }
  if (!(image instanceof Float32Array) || image.length !== side * side) {
    throw new Error(`image must be a Float32Array of ${side * side} values`);
  }
  const k = Math.max(1, Math.min(maxIterations, Math.round(iterations) || 3));
  const traced = await trace(image, side, id);
  if (!traced) return { type: "result", id, cancelled: true, preprocessMs };
  const { out, stageMs } = traced;
  const [lengths, couplings, poses, prim] = OUTPUTS.map((name) => out[name].data);
  const result = {
    type: "result",
    id,
    iterations: k,
    lengths: lengths.slice(0, k * 10),
    couplings: couplings.slice(0, k * primary * 10),
    poses: poses.slice(0, k * 160),
    primary: prim.slice(),
    ms: stageMs.reduce((a, b) => a + b, 0),
    stageMs,
    preprocessMs,
  };
  const last = result.lengths.subarray((k - 1) * 10);
  result.prediction = last.indexOf(Math.max(...last));
  for (const name of OUTPUTS) out[name].dispose?.();
  return result;
}

async function handle(data, arrived) {
  try {
    if (data.type === "init") {
      self.postMessage(await init(data));
    } else if (data.type === "run") {
      const waitedMs = performance.now() - arrived; // behind the run it cancelled, or nothing
      const result = cancelled.has(data.id) ? { type: "result", id: data.id, cancelled: true } : await run(data);
      result.waitedMs = waitedMs;
      const buffers = result.empty || result.cancelled ? [] : OUTPUTS.map((n) => result[n].buffer);
      self.postMessage(result, buffers);
    }
  } catch (err) {
    self.postMessage({ type: "error", id: data.id, init: data.type === "init", message: String(err?.message ?? err) });
  } finally {
    if (data.type === "run") cancelled.delete(data.id);
  }
}

// One message at a time, in order (a run posted while another is stopping starts when it has stopped, with no
// round trip through the page); a "cancel" is read at once, between two stages of the run it names.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  if (data.type === "cancel") {
    cancelled.add(data.id);
    return;
  }
  const arrived = performance.now();
  queue = queue.then(() => handle(data, arrived));
};
