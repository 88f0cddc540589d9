// capsviz drawing canvas: strokes as data, sent to Python on every pen-up (capsviz/app/canvas.py).
//
// Data from Python (JSON): {size, version, width, pen, pens, colours, rev, drawing, share, max_points}
//   width/pen: the pen for the next stroke; colours[pen]: its ink; rev: Python's revision of the drawing;
//   drawing: Python's copy of the drawing (loaded only when rev changes: a shared link, a remount).
// State sent back: "drawing" = {v, size, strokes: [{w, pen, p: [x0, y0, t0, x1, y1, t1, ...]}]}, integers
//   (x, y in canvas px of the size x size logical square, t in ms since the drawing's first point), on every
//   pen-up, undo, redo and clear. A stroke in progress sends nothing.

const LOG_LIMIT = 2000;
const HISTORY_LIMIT = 500;
const STATUS_MS = 2500;

const CANVASES = new WeakMap(); // component parent element -> Canvas

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
    const last = this.strokes[this.strokes.length - 1];
    this.t0 = performance.now() - (last ? last.p[last.p.length - 1] + 1000 : 0);
    this.stored = this.strokes.reduce((n, s) => n + s.p.length / 3, 0);
    this.redraw();
  }

  // --- geometry -----------------------------------------------------------------------------------

  fit() {
    const rect = this.canvas.getBoundingClientRect();
    const side = rect.width || this.size;
    const dpr = window.devicePixelRatio || 1;
    if (side === this.cssSide && dpr === this.dpr) return;
    this.cssSide = side;
    this.dpr = dpr;
    const px = Math.max(1, Math.round(side * dpr));
    this.canvas.width = px;
    this.canvas.height = px;
    this.redraw();
  }

  point(e) {
    // CSS px of the event -> the logical size x size square, integers, clamped to the square
    const rect = this.canvas.getBoundingClientRect();
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
    try {
      if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    } catch {
      /* already released */
    }
    this.paintActive(s); // the last segments now, not a frame later
    this.log.ups++;
    this.commit([...this.strokes, { w: s.w, pen: s.pen, p: s.p }]);
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
    this.send();
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
