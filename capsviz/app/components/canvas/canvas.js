// capsviz drawing canvas: strokes as data, sent to Python on every pen-up (capsviz/app/canvas.py).
//
// Data from Python (JSON): {size, version, width, pen, pens, colours, rev, drawing, share, max_points}
//   width/pen: the pen for the next stroke; colours[pen]: its ink; rev: Python's revision of the drawing;
//   drawing: Python's copy of the drawing (loaded only when rev changes: a shared link, a remount).
// State sent back: "drawing" = {v, size, strokes: [{w, pen, p: [x0, y0, t0, x1, y1, t1, ...]}]}, integers
//   (x, y in canvas px of the size x size logical square, t in ms since the drawing's first point), on every
//   pen-up, undo, redo and clear. A stroke in progress sends nothing.
// Live reading (data.live from capsviz/app/live.py: module URLs and the model, or {off: reason}): the page runs
//   the CapsNet itself (inpage/model_client.js, a Web Worker that also preprocesses the strokes) on the strokes
//   as they are drawn, at most once per display frame; while the worker is busy a frame's drawing is dropped,
//   not queued (the newest is read when it is free). data.server = {fp, prediction, lengths}: the server's
//   reading of the drawing Python holds (fp: fingerprint() of its strokes); where it differs from the page's for
//   the same drawing, the server's is shown.

const LOG_LIMIT = 2000;
const HISTORY_LIMIT = 500;
const STATUS_MS = 2500;

const CANVASES = new WeakMap(); // component parent element -> Canvas
const CLIENTS = new Map(); // model hash -> {ready: Promise<ModelClient>, lives: Set<Live>}: one worker per tab
const LIVE_LOG_LIMIT = 500;
// On pen-up the page reads the drawing before it sends it: on a busy machine the rerun the send starts would
// slow the worker 2-4x (the final reading took 91-223 ms sent first). The send waits at most this long.
const SEND_AFTER_READING_MS = 60;
const MARGIN_HIGH = 0.9; // the margin loss's thresholds: a present digit's capsule should be longer than 0.9,
const MARGIN_LOW = 0.1; // an absent one's shorter than 0.1
const TYPES = 32; // primary-capsule types; the flat primary index is (row * 6 + col) * 32 + type

// Python's capsviz.app.live.fingerprint: the same drawing gives the same string on both sides.
function fingerprint(strokes) {
  let points = 0;
  let sx = 0;
  let sy = 0;
  let sw = 0;
  let sp = 0;
  for (const s of strokes) {
    const p = s.p;
    points += p.length / 3;
    for (let i = 0; i < p.length; i += 3) {
      sx += p[i];
      sy += p[i + 1];
    }
    sw += Math.round(s.w);
    sp += s.pen || 0;
  }
  return `${strokes.length}:${points}:${sx}:${sy}:${sw}:${sp}`;
}

// Root-relative URLs from Python; this module runs from a blob: URL, so resolve them against the page.
const absolute = (url) => new URL(url, document.baseURI).href;

function el(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

// The page's own reading of the drawing, under the canvas: the predicted digit, the ten capsule lengths against
// the margins, and how the 32 primary-capsule types route to the leading capsule.
class Live {
  constructor(canvas, root) {
    this.cv = canvas;
    this.panel = root.querySelector(".cv-live");
    this.note = root.querySelector(".cv-live-note");
    this.pred = root.querySelector(".cv-live-pred");
    this.source = root.querySelector(".cv-live-source");
    this.caption = root.querySelector(".cv-live-caption");
    const plot = root.querySelector(".cv-live-plot");
    const axis = root.querySelector(".cv-live-axis");
    this.bars = [];
    for (let d = 0; d < 10; d++) {
      const bar = el("div", "cv-bar", plot);
      this.bars.push(el("i", "", bar));
      el("span", "", axis).textContent = String(d);
    }
    for (const [v, name] of [[MARGIN_HIGH, "high"], [MARGIN_LOW, "low"]]) {
      const line = el("div", `cv-margin cv-margin-${name}`, plot);
      line.style.bottom = `${v * 100}%`;
      line.title = `margin ${v}`;
    }
    const cells = root.querySelector(".cv-live-cells");
    this.cells = [];
    for (let t = 0; t < TYPES; t++) {
      const cell = el("i", "", cells);
      this.cells.push(cell);
    }
    this.config = null;
    this.hash = null;
    this.client = null;
    this.iterations = 3;
    this.unavailable = null;
    this.dirty = false; // a frame was dropped while the worker was busy: read the newest when it is free
    this.posted = null; // {fp, iterations} last sent
    this.page = null; // the page's last reading: {fp, prediction, lengths, routing, leading, iterations}
    this.serverAnswer = null; // data.server
    this.shown = null; // {fp, prediction, source}
    this.log = { readings: [], dropped: 0, posted: 0, empty: 0 };
    this.frameOfRequest = -1;
  }

  // data.live: URLs and the model, {off: reason}, or nothing (this canvas has no live reading: two pens)
  configure(live) {
    if (!live) {
      this.panel.hidden = true;
      return;
    }
    if (live.off) {
      this.fail(live.off);
      return;
    }
    const iterations = Math.max(1, Math.min(5, Number(live.iterations) || 3));
    const changed = iterations !== this.iterations;
    this.iterations = iterations;
    if (this.unavailable) return;
    if (this.hash !== live.model.hash) {
      this.hash = live.model.hash;
      this.start(live);
    } else if (changed) {
      this.cv.wantLive();
    }
  }

  start(live) {
    this.panel.hidden = false;
    this.panel.dataset.state = "loading";
    this.caption.textContent = "Loading the network into this page…";
    const missing =
      typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function"
        ? "this browser has no WebAssembly"
        : typeof Worker !== "function"
          ? "this browser has no Web Workers"
          : null;
    if (missing) {
      this.fail(missing);
      return;
    }
    let entry = CLIENTS.get(live.model.hash);
    if (!entry) {
      entry = { lives: new Set(), reason: null };
      entry.ready = (async () => {
        const { ModelClient } = await import(absolute(live.client));
        const client = new ModelClient({
          model: { hash: live.model.hash, url: absolute(live.model.url) },
          workerUrl: absolute(live.worker),
          vendorUrl: absolute(live.vendor),
          preprocessUrl: absolute(live.preprocess),
          onUnavailable: (why) => {
            entry.reason = why;
            for (const l of entry.lives) l.fail(why);
          },
        });
        const info = await client.ready;
        if (!info) throw new Error(client.unavailable || "the model could not be loaded");
        return client;
      })();
      CLIENTS.set(live.model.hash, entry);
    }
    entry.lives.add(this);
    const hash = live.model.hash;
    entry.ready.then(
      (client) => {
        if (this.hash !== hash || this.unavailable) return;
        this.client = client;
        this.panel.dataset.state = "ready";
        this.caption.textContent = "";
        this.render(null);
        this.cv.wantLive();
      },
      (err) => this.fail(entry.reason || String(err?.message ?? err)),
    );
  }

  // Said once, quietly; the server's panels carry on as before.
  fail(reason) {
    if (this.unavailable) return;
    this.unavailable = String(reason);
    this.client = null;
    this.panel.hidden = true;
    this.note.hidden = false;
    this.note.textContent = `Live reading unavailable: ${this.unavailable}; predictions come from the server.`;
  }

  // Called at most once per display frame (Canvas.frame) while a stroke is drawn, and after a change.
  // whether the page reads drawings itself (the model is loaded and working)
  reads() {
    return !!this.client && !this.unavailable;
  }

  // call ``then`` once the page has read the drawing with fingerprint ``fp`` (replaces an earlier wait)
  whenRead(fp, then) {
    this.waiting = { fp, then };
    this.resolveWaiting(this.page && this.page.fp); // already read (an empty drawing, or the stroke's last frame)
  }

  resolveWaiting(fp) {
    if (!this.waiting || this.waiting.fp !== fp) return;
    const { then } = this.waiting;
    this.waiting = null;
    then();
  }

  request() {
    const client = this.client;
    if (!client) return;
    // A finished drawing (pen-up, undo, redo, clear, a load) is never dropped: it cancels the stroke's reading in
    // flight (stopped within one stage, ~5 ms, where it used to run its whole ~25 ms first) and goes next.
    const finished = !this.cv.active;
    if (client.busy && !finished) {
      this.dirty = true; // this frame's drawing is dropped; the newest is read when the worker is free
      this.log.dropped++;
      return;
    }
    this.dirty = false;
    const strokes = this.cv.currentStrokes();
    const fp = fingerprint(strokes);
    if (this.posted && this.posted.fp === fp && this.posted.iterations === this.iterations) return;
    this.posted = { fp, iterations: this.iterations };
    if (!strokes.length) {
      this.page = { fp, prediction: null };
      this.render(this.page);
      this.resolveWaiting(fp);
      return;
    }
    const drawing = {
      v: this.cv.version,
      size: this.cv.size,
      strokes: strokes.map((s) => ({ w: s.w, pen: s.pen, p: s.p })),
    };
    const t0 = performance.now();
    const during = !!this.cv.active;
    this.log.posted++;
    this.frameOfRequest = this.cv.log.frames;
    client.run({ drawing }, this.iterations, { urgent: finished }).then((r) => {
      if (r) this.take(r, fp, t0, during);
      if (!this.dirty) return;
      // the worker is free and the drawing has moved on: read the newest now (the pen-up's final drawing waits
      // for no frame), unless this display frame already sent one
      if (this.cv.log.frames !== this.frameOfRequest) this.request();
      else this.cv.wantLive();
    });
  }

  take(r, fp, t0, during) {
    if (r.empty) {
      this.page = { fp, prediction: null };
      this.log.empty++;
    } else {
      const k = r.iterations;
      const lengths = Array.from(r.lengths.subarray((k - 1) * 10, k * 10));
      const leading = r.prediction;
      // each type's coupling to the leading capsule at the chosen iteration, weighted by its capsules' lengths
      const n = r.primary.length / 8;
      const c = r.couplings.subarray((k - 1) * n * 10, k * n * 10);
      const num = new Float64Array(TYPES);
      const den = new Float64Array(TYPES);
      for (let i = 0; i < n; i++) {
        let sq = 0;
        for (let d = 0; d < 8; d++) sq += r.primary[i * 8 + d] ** 2;
        const len = Math.sqrt(sq);
        num[i % TYPES] += len * c[i * 10 + leading];
        den[i % TYPES] += len;
      }
      const routing = Array.from(num, (v, t) => (den[t] > 0 ? v / den[t] : 0));
      this.page = { fp, prediction: leading, lengths, routing, iterations: k };
    }
    const ms = performance.now() - t0;
    const p = this.page.prediction;
    const reading = { t: performance.now(), ms, trace: r.ms, pre: r.preprocessMs, waited: r.waitedMs, fp, during, p };
    this.log.readings.push(reading);
    if (this.log.readings.length > LIVE_LOG_LIMIT) this.log.readings.shift();
    this.render(this.page);
    this.resolveWaiting(fp);
  }

  // data.server: the server's reading of the drawing Python holds
  server(answer) {
    this.serverAnswer = answer && typeof answer === "object" ? answer : null;
    if (this.client && this.page) this.render(this.page);
  }

  render(page) {
    if (this.unavailable) return;
    let shown = page || { fp: null, prediction: null };
    let source = "page";
    const s = this.serverAnswer;
    // Once the pen is up and the server has read the same drawing, its answer wins where the two differ.
    if (s && page && !this.cv.active && s.fp === page.fp && s.prediction !== page.prediction) {
      shown = { ...page, prediction: s.prediction, lengths: s.lengths || page.lengths };
      source = "server";
    }
    const pred = shown.prediction;
    const text = pred === null || pred === undefined ? "" : String(pred);
    if (this.pred.textContent !== text) this.pred.textContent = text;
    this.pred.dataset.fp = shown.fp || "";
    this.pred.dataset.source = source;
    this.pred.dataset.page = page && page.prediction !== null && page.prediction !== undefined ? String(page.prediction) : "";
    this.source.textContent = text ? (source === "server" ? "server" : "live") : "";
    this.panel.dataset.source = source;
    const lengths = shown.lengths || new Array(10).fill(0);
    for (let d = 0; d < 10; d++) {
      const v = Math.max(0, Math.min(1, Number(lengths[d]) || 0));
      this.bars[d].style.transform = `scaleY(${v.toFixed(3)})`;
      this.bars[d].parentElement.classList.toggle("cv-lead", text !== "" && d === pred);
    }
    const routing = text !== "" && shown.routing && source === "page" ? shown.routing : null;
    const top = routing ? Math.max(0.3, ...routing) : 1;
    for (let t = 0; t < TYPES; t++) {
      // uniform routing gives 0.1 to each capsule: shade what is above it, full at the most-routed type's
      // share (at least 0.3, so the first iteration's uniform routing stays flat)
      const v = routing ? Math.max(0, Math.min(1, (routing[t] - 0.1) / (top - 0.1))) : 0;
      this.cells[t].style.setProperty("--v", v.toFixed(3));
    }
    const caption = routing
      ? `Routing to ${pred}, iteration ${shown.iterations}: how much of each of the 32 capsule types' vote goes to it`
      : source === "server"
        ? `The server reads ${pred} for this drawing (the page read ${page.prediction ?? "nothing"})`
        : this.cv.strokes.length || this.cv.active
          ? "No digit to read yet"
          : "Draw: the network reads along";
    if (this.caption.textContent !== caption) this.caption.textContent = caption;
    const same = this.shown && this.shown.fp === shown.fp && this.shown.prediction === pred && this.shown.source === source;
    if (!same) this.shown = { fp: shown.fp, prediction: pred, source, t: performance.now() }; // t: when it first showed
  }

  api() {
    return {
      state: this.unavailable ? "unavailable" : this.client ? "ready" : this.hash ? "loading" : "off",
      note: this.note.hidden ? "" : this.note.textContent,
      shown: this.shown,
      page: this.page && { fp: this.page.fp, prediction: this.page.prediction },
      server: this.serverAnswer,
      fp: fingerprint(this.cv.currentStrokes()),
      log: { ...this.log, cancelled: this.client ? this.client.cancelled : 0 },
    };
  }
}

class Canvas {
  constructor(parent) {
    let root = parent.querySelector(".cv");
    if (!root) {
      root = document.createElement("div");
      root.className = "cv";
      parent.appendChild(root);
    }
    this.root = root;
    this.canvas = root.querySelector(".cv-canvas");
    this.ctx = this.canvas.getContext("2d");
    this.undoButton = root.querySelector(".cv-undo");
    this.redoButton = root.querySelector(".cv-redo");
    this.clearButton = root.querySelector(".cv-clear");
    this.shareButton = root.querySelector(".cv-share");
    this.penDot = root.querySelector(".cv-pen");
    this.status = root.querySelector(".cv-status");
    this.linkField = root.querySelector(".cv-link");
    this.size = 280;
    this.version = 1;
    this.width = 18;
    this.pen = 0;
    this.colours = ["#ffffff"];
    this.maxPoints = Infinity; // over the whole drawing: Python refuses more (capsviz.data.strokes)
    this.maxStrokes = Infinity;
    this.stored = 0; // points in the finished strokes
    this.rev = null; // the revision of Python's drawing last loaded
    this.strokes = []; // finished strokes: {w, pen, p: number[]}
    this.past = []; // undo: earlier stroke lists
    this.future = []; // redo
    this.active = null; // the stroke being drawn: {w, pen, p, id (pointerId), drawn (points painted)}
    this.t0 = 0; // performance.now() of the drawing's first point
    this.raf = 0;
    this.dpr = 0;
    this.cssSide = 0;
    this.setStateValue = null;
    this.statusTimer = 0;
    this.live = new Live(this, root);
    this.liveWanted = false;
    this.log = { sent: [], frames: 0, points: 0, downs: 0, ups: 0, paint: [] }; // paint: [rAF t, ms] per inked frame
    this.bind();
    this.fit();
    root._capsviz = this.api();
  }

  bind() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("pointercancel", (e) => this.up(e));
    c.addEventListener("lostpointercapture", (e) => this.up(e));
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    // belt and braces where touch-action is not honoured (old Safari): no scrolling while a finger draws
    c.addEventListener("touchstart", (e) => e.preventDefault(), { passive: false });
    c.addEventListener("touchmove", (e) => e.preventDefault(), { passive: false });
    this.undoButton.addEventListener("click", () => this.undo());
    this.redoButton.addEventListener("click", () => this.redo());
    this.clearButton.addEventListener("click", () => this.clear());
    this.shareButton.addEventListener("click", () => this.copyLink());
    this.root.addEventListener("keydown", (e) => this.key(e));
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.fit()).observe(c);
    // a window moved to a screen of another pixel density: a sharper (or cheaper) backing store
    window.addEventListener("resize", () => this.fit());
    // the page scrolled under a stroke (a wheel turned while drawing): measure the box again
    const moved = () => {
      if (this.strokeRect) this.strokeRect = this.canvas.getBoundingClientRect();
    };
    window.addEventListener("scroll", moved, { capture: true, passive: true });
  }

  // --- data from Python ---------------------------------------------------------------------------

  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    if (!data || typeof data !== "object") return;
    this.size = Number(data.size) || 280;
    this.version = Number(data.version) || 1;
    this.width = Number(data.width) || this.width;
    this.pen = Number(data.pen) || 0;
    if (Array.isArray(data.colours) && data.colours.length) this.colours = data.colours.map(String);
    this.maxPoints = Number(data.max_points) || Infinity;
    this.maxStrokes = Number(data.max_strokes) || Infinity;
    this.shareButton.hidden = !data.share;
    const pens = Number(data.pens) || 1;
    this.penDot.hidden = pens < 2;
    this.root.style.setProperty("--cv-pen-colour", this.colour(this.pen));
    this.penDot.title = `Pen ${this.pen + 1}`;
    if (data.rev !== this.rev) {
      this.rev = data.rev;
      this.load(data.drawing);
    } else if (!this.active) {
      this.redraw(); // colours may have changed
    }
    this.refreshButtons();
    this.live.configure(data.live);
    this.live.server(data.server);
  }

  load(drawing) {
    // Python's drawing (already validated there): shown as is, with a fresh history.
    const strokes = drawing && Array.isArray(drawing.strokes) ? drawing.strokes : [];
    this.strokes = strokes
      .filter((s) => s && Array.isArray(s.p) && s.p.length >= 3)
      .map((s) => ({ w: Number(s.w) || this.width, pen: Number(s.pen) || 0, p: s.p.map(Number) }));
    this.past = [];
    this.future = [];
    this.active = null;
    this.strokeRect = null;
    const last = this.strokes[this.strokes.length - 1];
    this.t0 = performance.now() - (last ? last.p[last.p.length - 1] + 1000 : 0);
    this.stored = this.strokes.reduce((n, s) => n + s.p.length / 3, 0);
    this.redraw();
    this.wantLive();
  }

  // --- geometry -----------------------------------------------------------------------------------

  fit() {
    const rect = this.canvas.getBoundingClientRect();
    const side = rect.width || this.size;
    const dpr = window.devicePixelRatio || 1;
    if (side === this.cssSide && dpr === this.dpr) return;
    this.cssSide = side;
    this.dpr = dpr;
    if (this.strokeRect) this.strokeRect = rect;
    const px = Math.max(1, Math.round(side * dpr));
    this.canvas.width = px;
    this.canvas.height = px;
    this.redraw();
  }

  point(e) {
    // CSS px of the event -> the logical size x size square, integers, clamped to the square. A stroke keeps the
    // box measured at its pen-down: measuring it per event forced a layout of the whole page whenever a live
    // reading had just restyled its panel (2.8 s of the main thread over 8 scripted digits).
    const rect = this.strokeRect || this.canvas.getBoundingClientRect();
    const k = this.size / (rect.width || this.size);
    const clamp = (v) => Math.max(0, Math.min(this.size, Math.round(v)));
    const t = Math.max(0, Math.round(e.timeStamp - this.t0));
    return [clamp((e.clientX - rect.left) * k), clamp((e.clientY - rect.top) * k), t];
  }

  // --- pointer input ------------------------------------------------------------------------------

  down(e) {
    if (this.active || (e.pointerType === "mouse" && e.button !== 0)) return;
    // No preventDefault: a mouse press focuses the canvas the native way (the keys work at once, and no
    // keyboard-focus ring shows); touch-action and user-select keep the page from scrolling or selecting.
    if (this.strokes.length >= this.maxStrokes || this.stored >= this.maxPoints) {
      this.say("The drawing is full: clear it (or undo) to draw more");
      return;
    }
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      /* a synthetic event without an active pointer */
    }
    if (!this.strokes.length) this.t0 = e.timeStamp;
    this.strokeRect = this.canvas.getBoundingClientRect();
    const [x, y, t] = this.point(e);
    this.active = { w: this.width, pen: this.pen, p: [x, y, t], id: e.pointerId, drawn: 0 };
    this.log.downs++;
    this.schedule();
  }

  move(e) {
    const s = this.active;
    if (!s || e.pointerId !== s.id) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) this.add(s, ev);
    this.schedule();
  }

  add(s, ev) {
    if (this.stored + s.p.length / 3 >= this.maxPoints) return;
    const [x, y, t] = this.point(ev);
    const n = s.p.length;
    if (x === s.p[n - 3] && y === s.p[n - 2]) return; // the same pixel: nothing new to draw or send
    s.p.push(x, y, Math.max(t, s.p[n - 1]));
    this.log.points++;
  }

  up(e) {
    const s = this.active;
    if (!s || e.pointerId !== s.id) return;
    if (e.type === "pointerup") this.add(s, e);
    this.active = null;
    this.strokeRect = null;
    try {
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    } catch {
      /* already released */
    }
    this.paintActive(s); // the last segments now, not a frame later
    this.log.ups++;
    this.commit([...this.strokes, { w: s.w, pen: s.pen, p: s.p }]); // reads it in the page, then sends it
  }

  // the finished strokes and the one being drawn
  currentStrokes() {
    return this.active ? [...this.strokes, this.active] : this.strokes;
  }

  // read the drawing again at the next display frame
  wantLive() {
    this.liveWanted = true;
    this.schedule();
  }

  // --- painting: only the new segments, once per display frame -------------------------------------

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.raf = 0;
    const t0 = performance.now();
    if (this.active) this.paintActive(this.active);
    this.log.frames++;
    this.log.paint.push([t0, performance.now() - t0]); // for the benchmark: what inking a frame costs
    if (this.log.paint.length > LOG_LIMIT) this.log.paint.shift();
    if (this.active || this.liveWanted) {
      this.liveWanted = false;
      this.live.request(); // at most once per frame; dropped while the worker is busy
    }
  }

  colour(pen) {
    return this.colours[pen] || this.colours[0] || "#ffffff";
  }

  prepare(ctx) {
    const k = this.canvas.width / this.size;
    ctx.setTransform(k, 0, 0, k, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  paintActive(s) {
    const n = s.p.length / 3;
    if (s.drawn >= n) return;
    const ctx = this.ctx;
    this.prepare(ctx);
    this.paintRange(ctx, s, s.drawn, n);
    s.drawn = n;
  }

  paintRange(ctx, s, from, to) {
    // points from .. to-1 of stroke s; the segment into ``from`` starts at the point before it
    const p = s.p;
    ctx.strokeStyle = ctx.fillStyle = this.colour(s.pen);
    ctx.lineWidth = s.w;
    if (from === 0) {
      ctx.beginPath();
      ctx.arc(p[0], p[1], s.w / 2, 0, 2 * Math.PI);
      ctx.fill();
      from = 1;
    }
    if (to <= from) return;
    ctx.beginPath();
    ctx.moveTo(p[3 * (from - 1)], p[3 * (from - 1) + 1]);
    for (let i = from; i < to; i++) ctx.lineTo(p[3 * i], p[3 * i + 1]);
    ctx.stroke();
  }

  redraw() {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000000";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.prepare(ctx);
    for (const s of this.strokes) this.paintRange(ctx, s, 0, s.p.length / 3);
    if (this.active) this.paintRange(ctx, this.active, 0, (this.active.drawn = this.active.p.length / 3));
  }

  // --- history: undo, redo, clear -------------------------------------------------------------------

  commit(strokes) {
    this.past.push(this.strokes);
    if (this.past.length > HISTORY_LIMIT) this.past.shift();
    this.future = [];
    this.strokes = strokes;
    this.changed(false);
  }

  undo() {
    if (this.active || !this.past.length) return;
    this.future.push(this.strokes);
    this.strokes = this.past.pop();
    this.changed(true);
  }

  redo() {
    if (this.active || !this.future.length) return;
    this.past.push(this.strokes);
    this.strokes = this.future.pop();
    this.changed(true);
  }

  clear() {
    if (this.active || !this.strokes.length) return;
    this.commit([]);
    this.redraw();
  }

  changed(repaint) {
    this.stored = this.strokes.reduce((n, s) => n + s.p.length / 3, 0);
    if (repaint) this.redraw();
    this.refreshButtons();
    this.sendAfterReading();
  }

  // the page's own reading of the new drawing first, then the drawing to Python (at most SEND_AFTER_READING_MS later)
  sendAfterReading() {
    const token = (this.sendToken = (this.sendToken || 0) + 1);
    const go = () => {
      if (this.sendToken !== token) return; // already sent, or a newer drawing took over
      this.sendToken++;
      this.send();
    };
    if (!this.live.reads()) return go();
    this.live.whenRead(fingerprint(this.strokes), go);
    this.live.request();
    setTimeout(go, SEND_AFTER_READING_MS);
  }

  refreshButtons() {
    const off = (button, disabled) => button.setAttribute("aria-disabled", disabled ? "true" : "false");
    off(this.undoButton, !this.past.length);
    off(this.redoButton, !this.future.length);
    off(this.clearButton, !this.strokes.length);
  }

  key(e) {
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key.toLowerCase();
    if (mod && !e.altKey && k === "z") {
      e.preventDefault();
      if (e.shiftKey) this.redo();
      else this.undo();
    } else if (mod && !e.altKey && !e.shiftKey && k === "y") {
      e.preventDefault();
      this.redo();
    } else if (!mod && (e.key === "Delete" || e.key === "Backspace") && e.target !== this.linkField) {
      e.preventDefault();
      this.clear();
    }
  }

  payload() {
    return {
      v: this.version,
      size: this.size,
      strokes: this.strokes.map((s) => ({ w: s.w, pen: s.pen, p: s.p })),
    };
  }

  send() {
    const drawing = this.payload();
    this.log.sent.push({ t: performance.now(), strokes: drawing.strokes.length });
    if (this.log.sent.length > LOG_LIMIT) this.log.sent.shift();
    if (this.setStateValue) this.setStateValue("drawing", drawing);
  }

  // --- sharing ----------------------------------------------------------------------------------------

  say(text) {
    clearTimeout(this.statusTimer);
    this.status.textContent = text;
    this.statusTimer = setTimeout(() => (this.status.textContent = ""), STATUS_MS);
  }

  async copyLink() {
    const url = window.location.href;
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
      await navigator.clipboard.writeText(url);
      this.linkField.hidden = true;
      this.say("Link copied");
    } catch {
      // no clipboard here (plain http on a school network, or permission refused): the link, selected
      this.linkField.hidden = false;
      this.linkField.value = url;
      this.linkField.focus();
      this.linkField.select();
      let copied = false;
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
      this.say(copied ? "Link copied" : "Press Ctrl+C (⌘C) to copy the link");
    }
  }

  // For tests: element._capsviz on the .cv root.
  api() {
    return {
      drawing: () => this.payload(),
      strokes: () => this.strokes.length,
      drawingNow: () => !!this.active,
      log: () => this.log,
      rev: () => this.rev,
      live: () => this.live.api(),
      backing: () => [this.canvas.width, this.canvas.height, this.dpr],
      // the red channel (0 black .. 255 white) at each logical (x, y)
      inkAt: (points) => {
        const k = this.canvas.width / this.size;
        return points.map(([x, y]) => this.ctx.getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data[0]);
      },
    };
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let canvas = CANVASES.get(parentElement);
  if (!canvas) {
    canvas = new Canvas(parentElement);
    CANVASES.set(parentElement, canvas);
  }
  canvas.update(data, setStateValue);
  // Reruns call this again with new data; the drawing (and a stroke in progress) carries on.
  return () => {};
}
