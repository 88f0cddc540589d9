// Test-only component for tests/e2e/test_inpage_model.py: loads capsviz/app/components/inpage/model_client.js
// from the URL Python gives, runs the in-page model on the digits it is sent, and writes what happened into the
// DOM as JSON (<pre data-testid="inpage-result">): the classes, the timings, the load report, dropped frames.

const CLIENTS = new Map(); // model hash -> ModelClient, for as long as the tab lives (reruns reuse it)
const DONE = new WeakMap(); // parent element -> run_id already done

// Python sends root-relative URLs; this module is loaded from a blob: URL, so resolve them against the page.
const absolute = (url) => new URL(url, document.baseURI).href;

async function clientFor(data, log) {
  const { ModelClient } = await import(absolute(data.client_url));
  let entry = CLIENTS.get(data.model.hash);
  if (!entry) {
    entry = { unavailable: [], client: null };
    entry.client = new ModelClient({
      model: { ...data.model, url: absolute(data.model.url) },
      vendorUrl: absolute(data.vendor_url),
      onUnavailable: (why) => entry.unavailable.push(why),
    });
    CLIENTS.set(data.model.hash, entry);
  }
  const info = await entry.client.ready;
  log.ready = info;
  log.unavailable = entry.unavailable;
  return info ? entry.client : null;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(data, out) {
  const log = { run_id: data.run_id };
  const t0 = performance.now();
  const client = await clientFor(data, log);
  log.load_ms = performance.now() - t0;
  if (client) {
    const images = data.images.map((im) => Float32Array.from(im));
    log.classes = [];
    log.lengths = [];
    for (const image of images) {
      const r = await client.run(image, data.iterations);
      log.classes.push(r.prediction);
      log.lengths.push(Array.from(r.lengths.subarray((r.iterations - 1) * 10)));
      log.shapes = { lengths: r.lengths.length, couplings: r.couplings.length, poses: r.poses.length };
    }
    const worker = [];
    const roundTrip = [];
    for (let i = 0; i < data.runs; i++) {
      const t = performance.now();
      const r = await client.run(images[i % images.length], data.iterations);
      roundTrip.push(performance.now() - t);
      worker.push(r.ms);
    }
    log.trace_ms = { p50: percentile(worker, 50), p95: percentile(worker, 95), min: Math.min(...worker) };
    log.round_trip_ms = { p50: percentile(roundTrip, 50), p95: percentile(roundTrip, 95) };
    // Ten requests at once: the first runs, the last replaces each pending one, the rest are dropped.
    const burst = await Promise.all(images.concat(images).slice(0, 10).map((im) => client.run(im, data.iterations)));
    log.burst = burst.map((r) => (r ? r.prediction : null));
  }
  out.textContent = JSON.stringify(log);
}

export default function (component) {
  const { data, parentElement } = component;
  let out = parentElement.querySelector("pre");
  if (!out) {
    out = document.createElement("pre");
    out.dataset.testid = "inpage-result";
    out.textContent = "loading";
    parentElement.appendChild(out);
  }
  if (data && DONE.get(parentElement) !== data.run_id) {
    DONE.set(parentElement, data.run_id);
    out.textContent = "running";
    measure(data, out).catch((err) => (out.textContent = JSON.stringify({ error: String(err?.stack ?? err) })));
  }
}
