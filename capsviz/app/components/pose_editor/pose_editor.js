// capsviz pose editor: 16 pose sliders of one digit capsule and the CapsNet decoder running in the page.
//
// Data (bytes from Python, see capsviz/app/pose_editor.py):
//   "CPE1" | uint32 LE header length n | n bytes of JSON header | zero padding to a multiple of 8 | body
//   header.image and header.weights give {offset, length} within the body; header.weights is null
//   once the page has reported (state "held") that it holds the weights with hash header.weights_hash.
// Decoder weights (capsviz/export/decoder.py): "CDW1" | uint32 C, D, H1, H2, O | float32 b1, b2, b3 |
//   float16 W1T (C*D x H1), W2T (H1 x H2), W3T (H2 x O), each input-major.
// State sent back: "pose" = {id, values: [16 floats]} on release (and reset); "held" = the weights hash
// this page holds ("" when Python assumed the page held weights it does not have).

const PAYLOAD_MAGIC = "CPE1";
const WEIGHTS_MAGIC = "CDW1";
const STATE_DELAY_MS = 150; // keyboard repeats: one rerun after the keys settle, not one per step
const MAX_MODELS = 2;
const STATUS_MS = 250; // the status line's fastest refresh: a number that changes every frame cannot be read
const LOG_LIMIT = 4000;

// Module-level: the module is imported once per page, so these live as long as the browser tab.
const MODELS = new Map(); // weights hash -> decoded decoder
const EDITORS = new WeakMap(); // component parent element -> Editor
let nextEditorId = 0;

// --- payload ------------------------------------------------------------------------------------

function ascii(u8, start, length) {
  return String.fromCharCode(...u8.subarray(start, start + length));
}

function parsePayload(data) {
  if (data == null) return null;
  const u8 = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (u8.byteLength < 8 || ascii(u8, 0, 4) !== PAYLOAD_MAGIC) throw new Error("pose editor: not a CPE1 payload");
  const n = new DataView(u8.buffer, u8.byteOffset, u8.byteLength).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + n)));
  const base = Math.ceil((8 + n) / 8) * 8;
  const section = (s) => (s ? u8.subarray(base + s.offset, base + s.offset + s.length) : null);
  return { header, image: section(header.image), weights: section(header.weights), bytes: u8.byteLength };
}

let HALF_TABLE = null;
function halfTable() {
  if (HALF_TABLE) return HALF_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) t[h] = sign * f * 2 ** -24;
    else if (e === 31) t[h] = f ? NaN : sign * Infinity;
    else t[h] = sign * (1 + f / 1024) * 2 ** (e - 15);
  }
  return (HALF_TABLE = t);
}

function unpackWeights(bytes) {
  const buf = bytes.slice().buffer; // an aligned copy: typed-array views need aligned offsets
  const u8 = new Uint8Array(buf);
  if (ascii(u8, 0, 4) !== WEIGHTS_MAGIC) throw new Error("pose editor: not a CDW1 decoder blob");
  const dv = new DataView(buf);
  const [C, D, H1, H2, O] = [4, 8, 12, 16, 20].map((o) => dv.getUint32(o, true));
  let off = 24;
  const f32 = (n) => {
    const a = new Float32Array(buf, off, n);
    off += 4 * n;
    return a;
  };
  const table = halfTable();
  const f16 = (n) => {
    const src = new Uint16Array(buf, off, n);
    off += 2 * n;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = table[src[i]];
    return a;
  };
  const b1 = f32(H1), b2 = f32(H2), b3 = f32(O);
  const w1 = f16(C * D * H1), w2 = f16(H1 * H2), w3 = f16(H2 * O);
  if (off !== buf.byteLength) throw new Error(`pose editor: decoder blob size ${buf.byteLength}, expected ${off}`);
  return {
    C, D, H1, H2, O, b1, b2, b3, w1, w2, w3,
    h1: new Float32Array(H1), h2: new Float32Array(H2), out: new Float32Array(O),
  };
}

function holdModel(hash, bytes) {
  if (!MODELS.has(hash)) {
    MODELS.set(hash, unpackWeights(bytes));
    while (MODELS.size > MAX_MODELS) MODELS.delete(MODELS.keys().next().value);
  }
  return MODELS.get(hash);
}

// --- the decoder: 16 -> H1 -> H2 -> O, ReLU, ReLU, sigmoid, on Float32Arrays ---------------------
// Input-major weights: each non-zero input adds its row to the outputs (ReLU zeros are skipped).

// out = bias + sum over inputs x_i of x_i * w[first + i]: input-major rows, so a zero input costs nothing.
// relu: the inputs are a previous layer's pre-activations, and ReLU turns the negative ones into zeros.
function dense(out, bias, input, w, first, relu) {
  const n = input.length, m = out.length;
  out.set(bias);
  for (let i = 0; i < n; i++) {
    const x = input[i];
    if (relu ? !(x > 0) : x === 0) continue;
    const row = (first + i) * m;
    for (let j = 0; j < m; j++) out[j] += x * w[row + j];
  }
}

function decode(m, digit, pose) {
  dense(m.h1, m.b1, pose, m.w1, digit * m.D, false); // only this capsule's rows: the others are masked
  dense(m.h2, m.b2, m.h1, m.w2, 0, true);
  dense(m.out, m.b3, m.h2, m.w3, 0, true);
  const out = m.out;
  for (let j = 0; j < out.length; j++) out[j] = 1 / (1 + Math.exp(-out[j]));
  return out;
}

// --- drawing --------------------------------------------------------------------------------------

function fitCanvas(canvas, width, height) {
  // The model's image side (28 for MNIST, 36 for MultiMNIST): the canvas holds one pixel per image pixel.
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
}

function paintGray(canvas, values, scale) {
  // values: width x height numbers, in [0, 1] (scale 255) or bytes (scale 1); CSS scales it up pixelated
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  const px = img.data;
  for (let i = 0, n = canvas.width * canvas.height; i < n; i++) {
    let v = Math.round(values[i] * scale);
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = v;
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function fmt(x) {
  const s = x.toFixed(2);
  return s === "-0.00" ? "0.00" : s;
}

// --- one editor per mounted component ---------------------------------------------------------------

class Editor {
  constructor(parent) {
    this.uid = `pe${nextEditorId++}`;
    let root = parent.querySelector(".pe");
    if (!root) {
      root = document.createElement("div");
      root.className = "pe";
      parent.appendChild(root);
    }
    this.root = root;
    this.inputCanvas = root.querySelector(".pe-input");
    this.reconCanvas = root.querySelector(".pe-recon");
    this.slidersBox = root.querySelector(".pe-sliders");
    this.resetButton = root.querySelector(".pe-reset");
    this.status = root.querySelector(".pe-status");
    this.id = null; // identity of the current drawing + capsule + slider specs
    this.dims = [];
    this.inputs = [];
    this.steps = new Int32Array(0); // slider positions, in steps from each starting value
    this.pose = new Float64Array(0);
    this.digit = 0;
    this.model = null;
    this.raf = 0;
    this.stateTimer = 0;
    this.lastStatus = 0;
    this.statusTimer = 0;
    this.pendingStatus = "";
    this.setStateValue = null;
    this.inputSeq = 0;
    this.log = { inputs: [], frames: [], received: [], sent: [] };
    this.resetButton.addEventListener("click", () => this.reset());
    root._capsviz = this.api();
  }

  // Called on every mount and every rerun with the latest data.
  update(payload, setStateValue) {
    this.setStateValue = setStateValue;
    const { header } = payload;
    this.log.received.push({ t: performance.now(), bytes: payload.bytes, weights: !!payload.weights, id: header.id });
    trim(this.log.received);
    if (payload.weights) {
      try {
        this.model = holdModel(header.weights_hash, payload.weights);
      } catch (err) {
        this.showError(err);
        return;
      }
      this.send("held", header.weights_hash);
    } else {
      this.model = MODELS.get(header.weights_hash) || null;
      if (!this.model) this.send("held", ""); // Python thought we held these weights: ask again
    }
    if (header.id !== this.id) {
      this.id = header.id;
      this.digit = header.digit;
      this.build(header.dims);
      if (payload.image) {
        const side = Math.round(Math.sqrt(payload.image.length));
        fitCanvas(this.inputCanvas, header.image.width || side, header.image.height || side);
        paintGray(this.inputCanvas, payload.image, 1);
      }
      clearTimeout(this.stateTimer); // a pending pose belongs to the previous drawing or capsule
      this.stateTimer = 0;
    }
    this.drawNow();
  }

  build(dims) {
    this.dims = dims.map((d) => {
      const step = d.step || 0.01;
      const lo = Math.floor((d.min - d.value) / step + 1e-9);
      const hi = Math.ceil((d.max - d.value) / step - 1e-9);
      return { ...d, step, lo: Math.min(lo, 0), hi: Math.max(hi, 0) };
    });
    this.steps = new Int32Array(this.dims.length);
    this.pose = Float64Array.from(this.dims, (d) => d.value);
    const box = this.slidersBox;
    box.replaceChildren();
    this.inputs = this.dims.map((d, k) => {
      const id = `${this.uid}-d${k}`;
      const item = document.createElement("div");
      item.className = "pe-dim";
      const head = document.createElement("div");
      head.className = "pe-dim-head";
      if (d.help) head.title = d.help; // tooltip on the label row, not over the track while dragging
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = d.label;
      const out = document.createElement("output");
      out.className = "pe-val";
      out.htmlFor = id;
      head.append(label, out);
      const track = document.createElement("div");
      track.className = "pe-track";
      const input = document.createElement("input");
      input.type = "range";
      input.className = "pe-range";
      input.id = id;
      input.min = String(d.lo);
      input.max = String(d.hi);
      input.step = "1";
      input.value = "0";
      input.dataset.dim = String(k);
      if (d.help) {
        const help = document.createElement("span");
        help.className = "pe-sr";
        help.id = `${id}-help`;
        help.textContent = d.help;
        item.appendChild(help);
        input.setAttribute("aria-describedby", help.id);
      }
      const span = d.hi - d.lo || 1;
      track.appendChild(input);
      if (d.median != null && Number.isFinite(d.median)) {
        const m = document.createElement("span");
        m.className = "pe-median";
        const f = ((d.median - d.value) / d.step - d.lo) / span;
        m.style.setProperty("--m", String(Math.min(1, Math.max(0, f))));
        m.title = `median ${fmt(d.median)}`;
        track.appendChild(m);
      }
      input.addEventListener("input", () => this.onInput(k));
      input.addEventListener("change", () => this.queueState());
      item.append(head, track);
      box.appendChild(item);
      return { input, out, item };
    });
    for (let k = 0; k < this.dims.length; k++) this.showValue(k);
    this.resetButton.disabled = true;
  }

  showValue(k) {
    const { input, out, item } = this.inputs[k];
    const d = this.dims[k];
    const text = fmt(this.pose[k]);
    out.textContent = text;
    input.setAttribute("aria-valuetext", text);
    // the filled part of the track: between the starting value and the thumb, either side
    const span = d.hi - d.lo || 1;
    const a = (0 - d.lo) / span, b = (this.steps[k] - d.lo) / span;
    input.style.setProperty("--f0", String(Math.min(a, b)));
    input.style.setProperty("--f1", String(Math.max(a, b)));
    item.classList.toggle("pe-changed", this.steps[k] !== 0);
  }

  setStep(k, s) {
    const d = this.dims[k];
    s = Math.max(d.lo, Math.min(d.hi, Math.round(s)));
    this.steps[k] = s;
    this.pose[k] = d.value + s * d.step;
    this.showValue(k);
  }

  onInput(k) {
    this.setStep(k, Number(this.inputs[k].input.value));
    this.log.inputs.push({ t: performance.now(), seq: ++this.inputSeq, dim: k, step: this.steps[k] });
    trim(this.log.inputs);
    this.resetButton.disabled = false;
    this.schedule();
  }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.drawNow());
  }

  drawNow() {
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
    if (!this.model || !this.dims.length) {
      if (!this.model) this.setStatus("Loading the decoder…");
      return;
    }
    const t0 = performance.now();
    const out = decode(this.model, this.digit, this.pose);
    const side = Math.round(Math.sqrt(this.model.O)); // the decoder draws side x side
    fitCanvas(this.reconCanvas, side, side);
    paintGray(this.reconCanvas, out, 255);
    const t1 = performance.now();
    this.log.frames.push({ t: t1, seq: this.inputSeq, ms: t1 - t0 });
    trim(this.log.frames);
    let len = 0;
    for (const v of this.pose) len += v * v;
    this.pendingStatus = `Pose length ${Math.sqrt(len).toFixed(2)} · redrawn in your browser in ${(t1 - t0).toFixed(1)} ms`;
    // At most 4 updates a second while a slider moves, and always the last frame's once it stops.
    const wait = STATUS_MS - (t1 - this.lastStatus);
    if (wait <= 0) this.flushStatus();
    else if (!this.statusTimer) this.statusTimer = setTimeout(() => this.flushStatus(), wait);
  }

  flushStatus() {
    clearTimeout(this.statusTimer);
    this.statusTimer = 0;
    this.lastStatus = performance.now();
    this.setStatus(this.pendingStatus);
  }

  setStatus(text) {
    this.status.classList.remove("pe-error");
    this.status.textContent = text;
  }

  showError(err) {
    console.error(err);
    this.status.classList.add("pe-error");
    this.status.textContent = String(err && err.message ? err.message : err);
  }

  reset() {
    for (let k = 0; k < this.dims.length; k++) {
      this.inputs[k].input.value = "0";
      this.setStep(k, 0);
    }
    this.resetButton.disabled = true;
    this.drawNow();
    this.sendPose();
  }

  queueState() {
    clearTimeout(this.stateTimer);
    this.stateTimer = setTimeout(() => this.sendPose(), STATE_DELAY_MS);
  }

  sendPose() {
    clearTimeout(this.stateTimer);
    this.stateTimer = 0;
    this.send("pose", { id: this.id, values: Array.from(this.pose) });
  }

  send(name, value) {
    this.log.sent.push({ t: performance.now(), name });
    trim(this.log.sent);
    if (this.setStateValue) this.setStateValue(name, value);
  }

  // For tests and the benchmark (capsviz/bench/browser.py): element._capsviz on the .pe root.
  api() {
    const api = {
      id: () => this.id,
      digit: () => this.digit,
      pose: () => Array.from(this.pose),
      steps: () => Array.from(this.steps),
      hasModel: () => !!this.model,
      log: () => this.log,
      clearLog: () => {
        for (const key of Object.keys(this.log)) this.log[key] = [];
      },
      // Move sliders as a user would (input events), then draw synchronously; returns the page's pixels
      // (784 for a 28x28 decoder, 1296 for 36x36).
      setSteps: (steps) => {
        steps.forEach((s, k) => {
          this.inputs[k].input.value = String(s);
          this.inputs[k].input.dispatchEvent(new Event("input", { bubbles: true }));
        });
        this.drawNow();
        return api.pixels();
      },
      pixels: () => {
        const { width, height } = this.reconCanvas;
        const { data } = this.reconCanvas.getContext("2d").getImageData(0, 0, width, height);
        return Array.from({ length: width * height }, (_, i) => data[4 * i]);
      },
      // Decoder timing: n decodes of random poses around the current one; returns milliseconds each.
      benchDecode: (n) => {
        const times = [];
        const pose = Float64Array.from(this.pose);
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < pose.length; k++) pose[k] = this.pose[k] + (Math.random() - 0.5) * 0.6;
          const t0 = performance.now();
          decode(this.model, this.digit, pose);
          times.push(performance.now() - t0);
        }
        return times;
      },
      decode: (pose, digit) => Array.from(decode(this.model, digit ?? this.digit, pose)),
    };
    return api;
  }
}

function trim(list) {
  if (list.length > LOG_LIMIT) list.splice(0, list.length - LOG_LIMIT);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let editor = EDITORS.get(parentElement);
  if (!editor) {
    editor = new Editor(parentElement);
    EDITORS.set(parentElement, editor);
  }
  try {
    const payload = parsePayload(data);
    if (payload) editor.update(payload, setStateValue);
  } catch (err) {
    editor.showError(err);
  }
  // Reruns call this function again with new data; the editor (and a drag in progress) carries on.
  return () => {};
}
