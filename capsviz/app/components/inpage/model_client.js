// capsviz in-page model, main-thread side: starts model_worker.js and hands it one drawing at a time.
//
//   import { ModelClient } from ".../inpage/model_client.js";
//   const client = new ModelClient({ model: { hash, url }, onUnavailable: (why) => fallBackToServer(why) });
//   const trace = await client.run(image28, 3);   // the worker's result, or null when dropped or unavailable
//   const live = await client.run({ drawing: payload }, 3);   // the worker preprocesses the strokes itself
//   if (client.busy) ...                         // a request is in flight: a live caller drops its frame
//   const done = await client.run({ drawing }, 3, { urgent: true });  // a finished drawing: overtakes the rest
//
// At most one request is in flight. A request made while one runs waits as "pending"; a newer one replaces it
// (the replaced caller's promise resolves to null): frames are dropped, never queued, so the page always traces
// the newest drawing next. An urgent request (a finished drawing) also cancels a non-urgent one in flight: the
// worker stops it at its next stage boundary (~5 ms), and its caller gets null. "Unavailable" (no WebAssembly or
// Worker, a worker that fails to start, or a model that fails to load) is reported once through onUnavailable
// and every later run resolves to null at once.
//
// Options: model {hash, url} | {hash, bytes} | {hash} (see model_worker.js), workerUrl (default: model_worker.js
// beside this file), preprocessUrl (preprocess.js for the worker; default: beside the worker), vendorUrl (the
// vendored onnxruntime-web folder; default ../vendor/onnxruntime-web/ beside this file), onReady(info) with the
// worker's "ready" message, onUnavailable(reason).

export class ModelClient {
  constructor({ model, workerUrl, vendorUrl, preprocessUrl, onReady, onUnavailable } = {}) {
    this.onReady = onReady || (() => {});
    this.onUnavailable = onUnavailable || (() => {});
    this.unavailable = null; // the reason, once
    this.info = null;
    this.inFlight = null; // {id, urgent, resolve}
    this.stopping = new Map(); // id -> resolve of cancelled requests the worker has not answered yet
    this.pending = null; // {image, iterations, resolve}
    this.nextId = 1;
    this.dropped = 0;
    this.cancelled = 0; // in-flight requests an urgent one stopped
    this.ready = new Promise((resolve) => (this._resolveReady = resolve));
    const missing = ModelClient.missingFeature();
    if (missing) {
      this._fail(`${missing} is not available in this browser`);
      return;
    }
    try {
      const url = workerUrl || new URL("./model_worker.js", import.meta.url);
      this.worker = new Worker(url, { type: "module", name: "capsviz-model" });
    } catch (err) {
      this._fail(`the model worker could not start: ${err?.message ?? err}`);
      return;
    }
    this.worker.onmessage = ({ data }) => this._onMessage(data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      this._fail(`the model worker failed: ${event.message || "script error"}`);
    };
    const base = vendorUrl || new URL("../vendor/onnxruntime-web/", import.meta.url).href;
    const transfer = model?.bytes instanceof ArrayBuffer ? [model.bytes] : [];
    const pre = preprocessUrl ? String(preprocessUrl) : undefined;
    this.worker.postMessage({ type: "init", vendorUrl: String(base), preprocessUrl: pre, model }, transfer);
  }

  static missingFeature() {
    if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") return "WebAssembly";
    if (typeof Worker !== "function") return "Web Workers";
    return null;
  }

  // True while a request is in flight or waiting (or the model is still loading).
  get busy() {
    return !this.info || !!this.inFlight || !!this.pending;
  }

  // Trace one image (Float32Array of side*side values in [0, 1]), or {drawing} (a stroke payload the worker
  // preprocesses), with 1..5 routing iterations. urgent: cancel a non-urgent request in flight.
  run(image, iterations = 3, { urgent = false } = {}) {
    if (this.unavailable) return Promise.resolve(null);
    return new Promise((resolve) => {
      if (this.pending) {
        this.pending.resolve(null); // replaced by a newer drawing: dropped
        this.dropped += 1;
      }
      this.pending = { image, iterations, urgent, resolve };
      const current = this.inFlight;
      if (urgent && current && !current.urgent) {
        // stopped between two stages; the urgent request is posted now and the worker starts it right after
        this.cancelled += 1;
        this.worker.postMessage({ type: "cancel", id: current.id });
        this.stopping.set(current.id, current.resolve);
        this.inFlight = null;
      }
      this._pump();
    });
  }

  close() {
    this.worker?.terminate();
    this._settleAll();
  }

  _pump() {
    if (!this.info || this.inFlight || !this.pending || this.unavailable) return;
    const { image, iterations, urgent, resolve } = this.pending;
    this.pending = null;
    const id = this.nextId++;
    this.inFlight = { id, urgent, resolve };
    if (image && image.drawing) {
      this.worker.postMessage({ type: "run", id, drawing: image.drawing, iterations });
      return;
    }
    const copy = image instanceof Float32Array ? image.slice() : Float32Array.from(image);
    this.worker.postMessage({ type: "run", id, image: copy, iterations }, [copy.buffer]);
  }

  _onMessage(data) {
    if (data.type === "ready") {
      this.info = data;
      this._resolveReady(data);
      this.onReady(data);
      this._pump();
    } else if (data.type === "result" && this.stopping.has(data.id)) {
      this.stopping.get(data.id)(data.cancelled ? null : data); // it finished before the cancel reached it
      this.stopping.delete(data.id);
    } else if (data.type === "result" && this.inFlight?.id === data.id) {
      const { resolve } = this.inFlight;
      this.inFlight = null;
      resolve(data.cancelled ? null : data);
      this._pump();
    } else if (data.type === "error") {
      if (data.init || !this.info) {
        this._fail(`the model could not be loaded: ${data.message}`);
      } else if (this.inFlight?.id === data.id) {
        const { resolve } = this.inFlight;
        this.inFlight = null;
        console.warn(`capsviz model: ${data.message}`);
        resolve(null);
        this._pump();
      } else if (this.stopping.has(data.id)) {
        this.stopping.get(data.id)(null);
        this.stopping.delete(data.id);
      }
    }
  }

  _fail(reason) {
    if (this.unavailable) return;
    this.unavailable = reason;
    this.worker?.terminate();
    this._settleAll();
    this._resolveReady(null);
    this.onUnavailable(reason);
  }

  _settleAll() {
    this.pending?.resolve(null);
    this.inFlight?.resolve(null);
    for (const resolve of this.stopping.values()) resolve(null);
    this.stopping.clear();
    this.pending = this.inFlight = null;
  }
}
