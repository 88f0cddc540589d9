// The canvas's strokes -> the model's 28x28 input, in the page: the same arithmetic as the server's Python.
//
// Mirrors, step for step:
//   capsviz/data/strokes.py      parse_drawing (clip points onto the canvas, pen widths into PEN_RANGE, float32
//                                points, drop empty strokes) and render_ink (each stroke drawn at SUPERSAMPLE x as
//                                Pillow line segments, ImageDraw.line(width=round(w)), plus a filled
//                                ImageDraw.ellipse disc at every point, then Image.resize(BOX) down)
//   capsviz/data/preprocess.py   to_mnist as it runs on render_rgba's canvas (to_gray, find_ink, the ink threshold,
//                                _bbox, stroke_width, _set_stroke_width, _resize, _resize_bilinear, _place; integer
//                                centre of mass, normalize_stroke=True, subpixel=False)
//   capsviz/app/inputs.py        read_drawing's refusals: no strokes, to_mnist's EmptyDrawingError/TooSmallError,
//                                and its click rule (the ink's longer side under two pen widths is a dot)
// and underneath them, ported from their C sources: Pillow's Draw.c (ImagingDrawWideLine, polygon_generic with
// its edge rounding and corner rule, the quarter/ellipse span iterator of ellipseNew) and Resample.c
// (precompute_coeffs, the 8-bit fixed-point and float32 passes, horizontal then vertical), scipy.ndimage's
// distance_transform_edt (exact, here by Felzenszwalb-Huttenlocher) and numpy's float32 arithmetic and pairwise
// summation where the order of additions decides a bit.
//
//   import { drawingToInput, preprocessDrawing, renderInk, toMnist } from "./preprocess.js";
//   const x = drawingToInput(payload);   // Float32Array(784) in [0, 1], or null (empty canvas, a dot, a speck)
//   const r = preprocessDrawing(payload); // {image, inkBox, reason}: the same, with why it is null
//   const ink = renderInk(payload);      // Uint8Array(280 * 280): render_ink's coverage, 0..255
//   const x2 = toMnist(ink);             // Float32Array(784) or null: to_mnist(render_rgba(...)).image
//
// payload: {"v": 1, "size": 280, "strokes": [{"w": 18, "pen": 0, "p": [x0, y0, t0, ...]}, ...]} as the canvas
// sends it (a parsed drawing from parseDrawing is accepted too). tests/e2e/test_inpage_preprocess.py runs this
// module in chromium on scripted, redrawn-MNIST and edge-case drawings against the Python functions named above
// (ink raster, 28x28 and predicted class): change either side and that test says by how much they disagree
// (tests/test_inpage_preprocess_node.py does a smaller run under Node.js). Measured bit-exact, ink and 28x28, on
// every drawing there (Pillow 12.3, numpy 2.4, scipy 1.17, x86-64).
// Not ported, because the canvas never needs them: 1-px lines (pens are clipped to >= 8 px, 32 px at 4x),
// box_reduce for images over WORK_SIDE (the canvas is 280 px; toMnist throws), upload paths (JPEG, RGB, alpha),
// and parse_drawing's size limits and time clipping (t is ignored; the canvas bounds what it sends).
// Plain ES module, no dependencies.

export const CANVAS = 280;
export const PEN_RANGE = [8, 40];
export const PENS = 2;
export const SUPERSAMPLE = 4;
export const FIELD = 28;
const BOX = 20;
const CENTRE = 14.0;
const INK_THRESHOLD = 0.1;
const MIN_CONTRAST = 0.1;
const MIN_SIDE_PX = 4;
const STROKE_MIN = 1.8;
const STROKE_MAX = 4.3;
const WORK_SIDE = 512;
const WORK_MIN = 64;

const fr = Math.fround;

// --- the payload (strokes.parse_drawing) ---------------------------------------------------------

const clip = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

/** The payload as parse_drawing makes it: {size, strokes: [{width, pen, xy: Float32Array [x0, y0, x1, ...]}]}.
 * Points are clipped onto the canvas, widths into PEN_RANGE, strokes without points dropped. Throws an Error for
 * what parse_drawing refuses (wrong version or size, non-numbers, bad pen). */
export function parseDrawing(payload) {
  if (payload && payload.parsed === true) return payload;
  if (!payload || typeof payload !== "object") throw new Error("not a drawing");
  if (payload.v !== 1) throw new Error(`format version ${payload.v}`);
  if (payload.size !== CANVAS) throw new Error(`canvas size ${payload.size}`);
  if (!Array.isArray(payload.strokes)) throw new Error("no list of strokes");
  const strokes = [];
  for (const s of payload.strokes) {
    const p = s && s.p;
    if (!Array.isArray(p) || p.length % 3) throw new Error("a stroke without (x, y, t) triples");
    const w = s.w;
    const pen = s.pen === undefined ? 0 : s.pen;
    if (typeof w !== "number" || !Number.isFinite(w)) throw new Error("a pen width that is not a number");
    if (!Number.isInteger(pen) || pen < 0 || pen >= PENS) throw new Error(`pen ${pen}`);
    for (const v of p) if (typeof v !== "number" || !Number.isFinite(v)) throw new Error("a point that is not a number");
    const n = p.length / 3;
    if (!n) continue;
    const xy = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      xy[2 * i] = clip(p[3 * i], 0, CANVAS);
      xy[2 * i + 1] = clip(p[3 * i + 1], 0, CANVAS);
    }
    strokes.push({ width: clip(w, PEN_RANGE[0], PEN_RANGE[1]), pen, xy });
  }
  return { parsed: true, size: CANVAS, strokes };
}

// --- Pillow's rasteriser (Draw.c), on a one-byte-per-pixel image ---------------------------------

class Raster {
  constructor(side) {
    this.w = side;
    this.h = side;
    this.px = new Uint8Array(side * side);
    this.top = side; // rows [top, bottom] were written
    this.bottom = -1;
    this.left = side;
    this.right = -1;
  }

  hline(x0, y, x1) {
    // hline8: x1 inclusive, clipped to the image
    if (y < 0 || y >= this.h) return;
    if (x0 < 0) x0 = 0;
    else if (x0 >= this.w) return;
    if (x1 < 0) return;
    else if (x1 >= this.w) x1 = this.w - 1;
    if (x0 > x1) return;
    this.px.fill(255, y * this.w + x0, y * this.w + x1 + 1);
    if (y < this.top) this.top = y;
    if (y > this.bottom) this.bottom = y;
    if (x0 < this.left) this.left = x0;
    if (x1 > this.right) this.right = x1;
  }
}

// Draw.c's rounding macros. With a float argument (polygon_generic) "(f) + 0.5F" is float arithmetic.
const roundUpF = (f) => (f >= 0 ? Math.floor(fr(f + 0.5)) : -Math.floor(fr(Math.abs(f) + 0.5)));
const roundDownF = (f) => (f >= 0 ? Math.ceil(fr(f - 0.5)) : -Math.ceil(fr(Math.abs(f) - 0.5)));
const roundUpD = (f) => (f >= 0 ? Math.floor(f + 0.5) : -Math.floor(Math.abs(f) + 0.5));
const roundDownD = (f) => (f >= 0 ? Math.ceil(f - 0.5) : -Math.ceil(Math.abs(f) - 0.5));
const roundf = (f) => (f >= 0 ? Math.floor(f + 0.5) : -Math.floor(-f + 0.5)); // C roundf, on a float value

function addEdge(x0, y0, x1, y1) {
  return {
    xmin: Math.min(x0, x1),
    xmax: Math.max(x0, x1),
    ymin: Math.min(y0, y1),
    ymax: Math.max(y0, y1),
    dx: y0 === y1 ? 0 : fr((x1 - x0) / (y1 - y0)),
    x0,
    y0,
  };
}

const edgeX = (e, y) => fr(fr((y - e.y0) * e.dx) + e.x0); // (ymin - y0) * dx + x0, in float

const XX = new Float32Array(8); // polygon_generic's crossings for the 4 edges of a wide line

function polygonGeneric(im, edges) {
  let ymin = im.h - 1;
  let ymax = 0;
  const table = [];
  for (const e of edges) {
    if (ymin > e.ymin) ymin = e.ymin;
    if (ymax < e.ymax) ymax = e.ymax;
    if (e.ymin === e.ymax) {
      im.hline(e.xmin, e.ymin, e.xmax);
      continue;
    }
    table.push(e);
  }
  if (ymin < 0) ymin = 0;
  if (ymax > im.h) ymax = im.h;
  const n = table.length;
  const xx = n <= 4 ? XX : new Float32Array(2 * n);
  for (; ymin <= ymax; ymin++) {
    let j = 0;
    for (let i = 0; i < n; i++) {
      const cur = table[i];
      if (ymin < cur.ymin || ymin > cur.ymax) continue;
      xx[j++] = edgeX(cur, ymin);
      if (ymin === cur.ymax && ymin < ymax) {
        xx[j] = xx[j - 1];
        j++;
      } else if ((ymin === cur.ymin || ymin === cur.ymax) && cur.dx !== 0) {
        // Connect discontiguous corners
        for (let k = 0; k < i; k++) {
          const other = table[k];
          if ((ymin !== other.ymin && ymin !== other.ymax) || other.dx === 0) continue;
          if (roundf(xx[j - 1]) === roundf(edgeX(other, ymin))) {
            const offset = ymin === cur.ymax ? -1 : 1;
            const adj = edgeX(cur, ymin + offset);
            if (ymin + offset >= other.ymin && ymin + offset <= other.ymax) {
              const adjOther = edgeX(other, ymin + offset);
              if (xx[j - 1] > fr(adj + 1) && xx[j - 1] > fr(adjOther + 1)) {
                xx[j - 1] = roundf(Math.max(adj, adjOther)) + 1;
              } else if (xx[j - 1] < fr(adj - 1) && xx[j - 1] < fr(adjOther - 1)) {
                xx[j - 1] = roundf(Math.min(adj, adjOther)) - 1;
              }
              break;
            }
          }
        }
      }
    }
    for (let i = 1; i < j; i++) {
      // qsort of a handful of floats: an insertion sort gives the same order
      const v = xx[i];
      let q = i - 1;
      for (; q >= 0 && xx[q] > v; q--) xx[q + 1] = xx[q];
      xx[q + 1] = v;
    }
    for (let i = 1; i < j; i += 2) im.hline(roundUpF(xx[i - 1]), ymin, roundDownF(xx[i]));
  }
}

function wideLine(im, x0, y0, x1, y1, width) {
  // ImagingDrawWideLine: one segment as a 4-sided polygon
  const dx = x1 - x0;
  const dy = y1 - y0;
  if (dx === 0 && dy === 0) {
    im.hline(x0, y0, x0);
    return;
  }
  const big = Math.sqrt(dx * dx + dy * dy); // hypot of small integers: exact-rounded either way
  const small = (width - 1) / 2.0;
  const ratioMax = roundUpD(small) / big;
  const ratioMin = roundDownD(small) / big;
  const dxmin = roundDownD(ratioMin * dy);
  const dxmax = roundDownD(ratioMax * dy);
  const dymin = roundDownD(ratioMin * dx);
  const dymax = roundDownD(ratioMax * dx);
  const v = [
    [x0 - dxmin, y0 + dymax],
    [x1 - dxmin, y1 + dymax],
    [x1 + dxmax, y1 - dymin],
    [x0 + dxmax, y0 - dymin],
  ];
  polygonGeneric(im, [
    addEdge(v[0][0], v[0][1], v[1][0], v[1][1]),
    addEdge(v[1][0], v[1][1], v[2][0], v[2][1]),
    addEdge(v[2][0], v[2][1], v[3][0], v[3][1]),
    addEdge(v[3][0], v[3][1], v[0][0], v[0][1]),
  ]);
}

// ellipseNew's quarter_* / ellipse_* iterators: a filled a x b ellipse as horizontal spans, on a grid of step 2.
function quarterInit(a, b) {
  if (a < 0 || b < 0) return { finished: true };
  return { a, b, cx: a, cy: b % 2, ex: a % 2, ey: b, a2: a * a, b2: b * b, a2b2: a * a * b * b, finished: false };
}

const quarterDelta = (s, x, y) => Math.abs(s.a2 * y * y + s.b2 * x * x - s.a2b2);

function quarterNext(s, out) {
  if (s.finished) return false;
  out[0] = s.cx;
  out[1] = s.cy;
  if (s.cx === s.ex && s.cy === s.ey) {
    s.finished = true;
  } else {
    let nx = s.cx;
    let ny = s.cy + 2;
    let ndelta = quarterDelta(s, nx, ny);
    if (nx > 1) {
      let newdelta = quarterDelta(s, s.cx - 2, s.cy + 2);
      if (ndelta > newdelta) {
        nx = s.cx - 2;
        ny = s.cy + 2;
        ndelta = newdelta;
      }
      newdelta = quarterDelta(s, s.cx - 2, s.cy);
      if (ndelta > newdelta) {
        nx = s.cx - 2;
        ny = s.cy;
      }
    }
    s.cx = nx;
    s.cy = ny;
  }
  return true;
}

const ELLIPSES = new Map(); // "a,b" -> Int32Array of spans [x0, y, x1, ...] relative to the box's corner

function ellipseSpans(a, b) {
  const key = `${a},${b}`;
  let spans = ELLIPSES.get(key);
  if (spans) return spans;
  const out = [];
  const w = a + b; // fill: width = a + b
  const leftmost = a % 2;
  const so = quarterInit(a, b);
  const pt = [0, 0];
  let finished = true;
  let py = 0;
  let pl = 0;
  let pr = 0;
  let si = null;
  if (w >= 1 && quarterNext(so, pt)) {
    pr = pt[0];
    py = pt[1];
    finished = false;
    si = quarterInit(a - 2 * (w - 1), b - 2 * (w - 1));
    pl = leftmost;
  }
  const emit = (x0, y, x1) => out.push(Math.trunc((x0 + a) / 2), Math.trunc((y + b) / 2), Math.trunc((x1 + a) / 2));
  while (!finished) {
    const y = py;
    let l = pl;
    const r = pr;
    let more;
    while ((more = quarterNext(so, pt)) && pt[1] <= y);
    if (!more) finished = true;
    else {
      pr = pt[0];
      py = pt[1];
    }
    let cx = pt[0];
    while ((more = quarterNext(si, pt)) && pt[1] <= y) l = pt[0];
    if (more) cx = pt[0];
    pl = more ? cx : leftmost;
    if ((l > 0 || l < r) && y > 0) emit(l === 0 ? 2 : l, y, r);
    if (y > 0) emit(-r, y, -l);
    if (l > 0 || l < r) emit(l === 0 ? 2 : l, -y, r);
    emit(-r, -y, -l);
  }
  spans = Int32Array.from(out);
  ELLIPSES.set(key, spans);
  return spans;
}

function ellipse(im, x0, y0, x1, y1) {
  const a = x1 - x0;
  const b = y1 - y0;
  if (a < 0 || b < 0) return;
  const s = ellipseSpans(a, b);
  for (let i = 0; i < s.length; i += 3) im.hline(x0 + s[i], y0 + s[i + 1], x0 + s[i + 2]);
}

/** Python's round(): halves to even. */
function pyRound(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** render_ink: (size x size) Uint8Array coverage 0..255 of every stroke (or only ``pen``'s). */
export function renderInk(drawing, { size = null, pen = null } = {}) {
  const d = parseDrawing(drawing);
  size = size || d.size;
  const k = SUPERSAMPLE;
  const f = (size / d.size) * k;
  const im = new Raster(size * k);
  for (const stroke of d.strokes) {
    if (pen !== null && stroke.pen !== pen) continue;
    const w = stroke.width * f;
    const r = w / 2;
    const xy = stroke.xy;
    const n = xy.length / 2;
    if (n > 1) {
      const lw = Math.max(1, pyRound(w));
      for (let i = 0; i < n - 1; i++) {
        // _draw_lines: (int) of each coordinate; widths here are >= 32 px at 4x, never the 1-px Bresenham path
        wideLine(
          im,
          Math.trunc(xy[2 * i] * f),
          Math.trunc(xy[2 * i + 1] * f),
          Math.trunc(xy[2 * i + 2] * f),
          Math.trunc(xy[2 * i + 3] * f),
          lw,
        );
      }
    }
    for (let i = 0; i < n; i++) {
      const x = xy[2 * i] * f;
      const y = xy[2 * i + 1] * f;
      ellipse(im, Math.trunc(x - r), Math.trunc(y - r), Math.trunc(x + r), Math.trunc(y + r));
    }
  }
  return boxDown(im, k, size);
}

function boxDown(im, k, size) {
  // Image.resize(BOX) by an integer factor k: coefficients 1/k in 22-bit fixed point, rounded after each pass
  const out = new Uint8Array(size * size);
  if (im.bottom < 0) return out;
  const W = im.w;
  const px = im.px;
  const one = 2 ** 22;
  const coef = Math.trunc(0.5 + (1 / k) * one);
  const half = 2 ** 21;
  const pass = new Uint8Array(255 * k + 1); // a pass's rounding, for every sum of k bytes
  for (let s = 1; s < pass.length; s++) pass[s] = Math.min(255, Math.floor((half + s * coef) / one));
  const c0 = Math.floor(im.left / k);
  const c1 = Math.floor(im.right / k);
  const r0 = Math.floor(im.top / k);
  const r1 = Math.floor(im.bottom / k);
  const tmp = new Uint8Array((r1 - r0 + 1) * k * size);
  // at 4x every pixel is 0 or 255 and a row is a multiple of 4 bytes: four pixels are read as one word
  const words = k === 4 && W % 4 === 0 ? new Uint32Array(px.buffer, px.byteOffset, px.length / 4) : null;
  for (let y = r0 * k; y < (r1 + 1) * k; y++) {
    const row = y * W;
    const trow = (y - r0 * k) * size;
    for (let c = c0; c <= c1; c++) {
      let s = 0;
      if (words) {
        const v = words[(row >> 2) + c];
        if (v === 0) continue;
        s = v === 0xffffffff ? 1020 : (v & 255) + ((v >>> 8) & 255) + ((v >>> 16) & 255) + (v >>> 24);
      } else {
        const x = row + c * k;
        for (let i = 0; i < k; i++) s += px[x + i];
      }
      tmp[trow + c] = pass[s];
    }
  }
  for (let r = r0; r <= r1; r++) {
    const t = (r - r0) * k * size;
    for (let c = c0; c <= c1; c++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += tmp[t + i * size + c];
      out[r * size + c] = pass[s];
    }
  }
  return out;
}

// --- numpy's float32 arithmetic and summation order ----------------------------------------------

/** numpy's pairwise sum of a[lo, lo + n) (add.reduce over a contiguous run), in float32 when round = fr. */
function pairwise(a, lo, n, round) {
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res = round(res + a[lo + i]);
    return res;
  }
  if (n <= 128) {
    const r = [a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = round(r[j] + a[lo + i + j]);
    let res = round(round(round(r[0] + r[1]) + round(r[2] + r[3])) + round(round(r[4] + r[5]) + round(r[6] + r[7])));
    for (; i < n; i++) res = round(res + a[lo + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return round(pairwise(a, lo, n2, round) + pairwise(a, lo + n2, n - n2, round));
}
const f64 = (x) => x;

// --- scipy.ndimage.distance_transform_edt --------------------------------------------------------

/** Exact Euclidean distance of every pixel where ``fg`` is 1 to the nearest pixel where it is 0 (scipy's edt of
 * a boolean array: sqrt of an integer squared distance; 0 on the background). Float64Array h * w. */
function edt(fg, h, w) {
  const INF = 1e20;
  const g = new Float64Array(h * w); // squared distance along the column
  for (let x = 0; x < w; x++) {
    let last = -1;
    for (let y = 0; y < h; y++) {
      if (!fg[y * w + x]) last = y;
      g[y * w + x] = last < 0 ? INF : (y - last) * (y - last);
    }
    last = -1;
    for (let y = h - 1; y >= 0; y--) {
      if (!fg[y * w + x]) last = y;
      if (last >= 0) {
        const d = (last - y) * (last - y);
        if (d < g[y * w + x]) g[y * w + x] = d;
      }
    }
  }
  const out = new Float64Array(h * w);
  const v = new Int32Array(w);
  const z = new Float64Array(w + 1);
  const fRow = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let k = -1;
    for (let q = 0; q < w; q++) {
      fRow[q] = g[row + q];
      if (fRow[q] >= INF) continue;
      if (k < 0) {
        k = 0;
        v[0] = q;
        z[0] = -Infinity;
        z[1] = Infinity;
        continue;
      }
      let s;
      for (;;) {
        const p = v[k];
        s = (fRow[q] + q * q - (fRow[p] + p * p)) / (2 * q - 2 * p);
        if (s <= z[k]) k--; // z[0] is -Infinity: stops at k = 0
        else break;
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    if (k < 0) {
      for (let q = 0; q < w; q++) out[row + q] = fg[row + q] ? Infinity : 0;
      continue;
    }
    let j = 0;
    for (let q = 0; q < w; q++) {
      while (z[j + 1] < q) j++;
      const p = v[j];
      out[row + q] = fg[row + q] ? Math.sqrt((q - p) * (q - p) + fRow[p]) : 0;
    }
  }
  return out;
}

// --- preprocess.to_mnist -------------------------------------------------------------------------

class Img {
  // a float32 (h, w) image, row-major
  constructor(h, w, data) {
    this.h = h;
    this.w = w;
    this.d = data || new Float32Array(h * w);
  }
}

function maxOf(a) {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

/** _bbox(a > thr): [top, left, bottom, right), or null when nothing passes. */
function bbox(a, h, w, thr) {
  let top = h;
  let bottom = -1;
  let left = w;
  let right = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (a[row + x] > thr) {
        if (y < top) top = y;
        bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? null : [top, left, bottom + 1, right + 1];
}

function crop(a, w, [top, left, bottom, right]) {
  const out = new Img(bottom - top, right - left);
  for (let y = top; y < bottom; y++) out.d.set(a.subarray(y * w + left, y * w + right), (y - top) * out.w);
  return out;
}

function strokeWidth(img) {
  // 4 * mean(EDT) over the ink, the ink being > half the brightest pixel (EDT of the mask padded by 1)
  const { h, w, d } = img;
  const thr = fr(0.5 * maxOf(d));
  const H = h + 2;
  const W = w + 2;
  const mask = new Uint8Array(H * W);
  let n = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (d[y * w + x] > thr) mask[(y + 1) * W + x + 1] = 1;
  const dist = edt(mask, H, W);
  const vals = new Float64Array(H * W);
  for (let y = 1; y <= h; y++) for (let x = 1; x <= w; x++) if (mask[y * W + x]) vals[n++] = dist[y * W + x];
  if (!n) return 0.0;
  return 4.0 * (pairwise(vals, 0, n, f64) / n);
}

function setStrokeWidth(img, width, target) {
  // _set_stroke_width: erode or dilate by EDT with a one-pixel soft edge, cropped to what is left
  const { h, w, d } = img;
  const r = (width - target) / 2.0;
  const p = Math.ceil(Math.max(-r, 0.0)) + 2;
  const H = h + 2 * p;
  const W = w + 2 * p;
  const thr = fr(0.5 * maxOf(d));
  const mask = new Uint8Array(H * W);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (d[y * w + x] > thr) mask[(y + p) * W + x + p] = 1;
  const out = new Float64Array(H * W);
  let any = false;
  if (r > 0) {
    const dist = edt(mask, H, W);
    for (let i = 0; i < H * W; i++) {
      out[i] = mask[i] ? clip(dist[i] - r + 0.5, 0.0, 1.0) : 0.0;
      if (out[i] > 0) any = true;
    }
  } else {
    const inv = new Uint8Array(H * W);
    for (let i = 0; i < H * W; i++) inv[i] = mask[i] ? 0 : 1;
    const dist = edt(inv, H, W);
    const base = -r + 0.5;
    for (let i = 0; i < H * W; i++) {
      out[i] = mask[i] ? 1.0 : clip(base - dist[i], 0.0, 1.0);
      if (out[i] > 0) any = true;
    }
  }
  if (!any) return img;
  const box = bbox(out, H, W, INK_THRESHOLD);
  const res = new Img(box[2] - box[0], box[3] - box[1]);
  for (let y = box[0]; y < box[2]; y++) {
    for (let x = box[1]; x < box[3]; x++) res.d[(y - box[0]) * res.w + x - box[1]] = out[y * W + x];
  }
  return res;
}

const BOX_FILTER = { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) };
const BILINEAR_FILTER = {
  support: 1.0,
  f: (x) => {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
  },
};

function precomputeCoeffs(inSize, outSize, filter) {
  // Resample.c precompute_coeffs with the box (0, inSize)
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = filter.support * filterscale;
  const bounds = [];
  const ks = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const k = new Float64Array(Math.max(xmax, 0));
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const v = filter.f((x + xmin - center + 0.5) * ss);
      k[x] = v;
      ww += v;
    }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    bounds.push(xmin, xmax);
    ks.push(k);
  }
  return { bounds, ks };
}

/** Image.fromarray(float32).resize((width, height), filter): horizontal pass then vertical, float32 between. */
function resizeF(img, height, width, filter) {
  if (img.h === height && img.w === width) return new Img(height, width, img.d.slice());
  const vert = precomputeCoeffs(img.h, height, filter);
  let src = img;
  if (width !== img.w) {
    const first = vert.bounds[0];
    const last = vert.bounds[2 * height - 2] + vert.bounds[2 * height - 1];
    const hor = precomputeCoeffs(img.w, width, filter);
    const tmp = new Img(last - first, width);
    for (let yy = 0; yy < tmp.h; yy++) {
      const row = (yy + first) * img.w;
      for (let xx = 0; xx < width; xx++) {
        const xmin = hor.bounds[2 * xx];
        const k = hor.ks[xx];
        let ss = 0.0;
        for (let x = 0; x < k.length; x++) ss += img.d[row + x + xmin] * k[x];
        tmp.d[yy * width + xx] = ss;
      }
    }
    for (let i = 0; i < height; i++) vert.bounds[2 * i] -= first;
    src = tmp;
  }
  if (height === img.h) return src;
  const out = new Img(height, src.w);
  for (let yy = 0; yy < height; yy++) {
    const ymin = vert.bounds[2 * yy];
    const k = vert.ks[yy];
    for (let xx = 0; xx < src.w; xx++) {
      let ss = 0.0;
      for (let y = 0; y < k.length; y++) ss += src.d[(y + ymin) * src.w + xx] * k[y];
      out.d[yy * src.w + xx] = ss;
    }
  }
  return out;
}

// to_gray on render_rgba's opaque white-on-black: r = g = b = v / 255 in float32, then the luminance weights
const C0 = fr(0.299);
const C1 = fr(0.587);
const C2 = fr(0.114);
const LUMA = new Float32Array(256);
for (let v = 0; v < 256; v++) {
  const u = fr(v / 255);
  LUMA[v] = fr(fr(fr(u * C0) + fr(u * C1)) + fr(u * C2));
}

function median(values) {
  const s = Float32Array.from(values).sort();
  const n = s.length;
  if (n % 2) return s[(n - 1) / 2];
  return fr(fr(s[n / 2 - 1] + s[n / 2]) / 2);
}

function borderPixels(g, h, w) {
  const k = Math.max(1, Math.floor(Math.min(h, w) / 50));
  const out = [];
  for (let y = 0; y < k; y++) for (let x = 0; x < w; x++) out.push(g[y * w + x]);
  for (let y = h - k; y < h; y++) for (let x = 0; x < w; x++) out.push(g[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = 0; x < k; x++) out.push(g[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = w - k; x < w; x++) out.push(g[y * w + x]);
  return out;
}

/** _place: the patch into the 28x28 field with its centre of mass rounded onto (14, 14), then / its max. */
function place(patch) {
  const { h, w, d } = patch;
  const mass = pairwise(d, 0, h * w, fr);
  const rows = new Float64Array(h);
  for (let y = 0; y < h; y++) rows[y] = pairwise(d, y * w, w, fr) * y;
  const cols = new Float32Array(w); // axis-0 sums: row after row, in float32
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) cols[x] = cols[x] + d[y * w + x];
  const colsW = new Float64Array(w);
  for (let x = 0; x < w; x++) colsW[x] = cols[x] * x;
  const cy = pairwise(rows, 0, h, f64) / mass;
  const cx = pairwise(colsW, 0, w, f64) / mass;
  const iy = pyRound(CENTRE - cy);
  const ix = pyRound(CENTRE - cx);
  const out = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < h; y++) {
    const r = y + iy;
    if (r < 0 || r >= FIELD) continue;
    for (let x = 0; x < w; x++) {
      const c = x + ix;
      if (c >= 0 && c < FIELD) out[r * FIELD + c] = d[y * w + x];
    }
  }
  const m = maxOf(out);
  for (let i = 0; i < out.length; i++) out[i] = clip(fr(out[i] / m), 0, 1);
  return out;
}

/** to_mnist(render_rgba(...)) for the ink coverage ``ink`` (Uint8Array side * side, 0..255):
 * {image: Float32Array(784) in [0, 1], inkBox: [top, left, bottom, right) in canvas px, strokeWidth}, or
 * {image: null, reason} where to_mnist raises: "empty" (EmptyDrawingError), "too-small" (TooSmallError). */
export function toMnistDetailed(ink, side = CANVAS) {
  // to_gray + find_ink. The usual canvas (dark frame, background level 0) is worked on its ink's bounding box
  // only: every pixel outside it is 0 either way.
  const raw = borderPixels(ink, side, side);
  // the usual canvas: more than half the frame is unlit, so its median (inverted or not) is 0 with no sort
  const unlit = raw.reduce((n, v) => n + (v === 0), 0);
  let border = unlit * 2 > raw.length + 1 ? null : raw.map((v) => LUMA[v]);
  const inverted = border ? median(border) > 0.5 : false;
  if (inverted) border = border.map((v) => fr(1.0 - v));
  const background = border ? median(border) : 0;
  let g;
  let h;
  let w;
  let origin = [0, 0];
  if (!inverted && background === 0) {
    const box = bbox(ink, side, side, 0);
    if (!box) return { image: null, reason: "empty" };
    [h, w] = [box[2] - box[0], box[3] - box[1]];
    origin = [box[0], box[1]];
    g = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      const row = (y + box[0]) * side + box[1];
      for (let x = 0; x < w; x++) g[y * w + x] = LUMA[ink[row + x]];
    }
  } else {
    [h, w] = [side, side];
    g = new Float32Array(h * w);
    for (let i = 0; i < g.length; i++) g[i] = LUMA[ink[i]];
    if (inverted) for (let i = 0; i < g.length; i++) g[i] = fr(1.0 - g[i]);
    for (let i = 0; i < g.length; i++) g[i] = Math.max(fr(g[i] - background), 0.0);
  }
  const peak = maxOf(g);
  if (peak < MIN_CONTRAST) return { image: null, reason: "empty" };
  const thr = fr(INK_THRESHOLD * peak);
  for (let i = 0; i < g.length; i++) g[i] = g[i] < thr ? 0.0 : fr(g[i] / peak);
  const box = bbox(g, h, w, 0);
  const inkBox = [box[0] + origin[0], box[1] + origin[1], box[2] + origin[0], box[3] + origin[1]];
  let work = crop(g, w, box);
  const longSide = Math.max(work.h, work.w);
  const k = Math.ceil(longSide / WORK_SIDE);
  if (k > 1) throw new Error("an image larger than WORK_SIDE: box_reduce is not ported");
  const lowRes = longSide < WORK_MIN;
  let widthSrc;
  if (lowRes) {
    const up = Math.ceil(WORK_MIN / longSide);
    widthSrc = strokeWidth(resizeF(work, work.h * up, work.w * up, BILINEAR_FILTER)) / up;
  } else {
    widthSrc = strokeWidth(work) * k;
  }
  if (longSide < MIN_SIDE_PX || longSide < 1.5 * widthSrc) return { image: null, reason: "too-small" };
  if (widthSrc > 0 && !lowRes) {
    const width = widthSrc / k;
    const longWork = Math.max(work.h, work.w);
    const now = (width * BOX) / longWork;
    const want = Math.min(Math.max(now, STROKE_MIN), STROKE_MAX);
    if (Math.abs(want - now) > 0.05) {
      const r = (width - (want * longWork) / BOX) / (2.0 * (1.0 - want / BOX));
      work = setStrokeWidth(work, width, width - 2.0 * r);
    }
  }
  const scale = BOX / Math.max(work.h, work.w);
  const patch = resizeF(
    work,
    Math.max(1, pyRound(work.h * scale)),
    Math.max(1, pyRound(work.w * scale)),
    BOX_FILTER,
  );
  for (let i = 0; i < patch.d.length; i++) if (patch.d[i] < 0) patch.d[i] = 0;
  if (!(pairwise(patch.d, 0, patch.d.length, fr) > 0)) return { image: null, reason: "too-small" };
  return { image: place(patch), inkBox, strokeWidth: widthSrc };
}

/** to_mnist(render_rgba(...)).image: Float32Array(784), or null where to_mnist raises. */
export function toMnist(ink, side = CANVAS) {
  return toMnistDetailed(ink, side).image;
}

/** What the app's capsviz/app/inputs.py read_drawing makes of the canvas's payload: {image, inkBox, reason}.
 * image: the model's input, Float32Array(784) in [0, 1], or null with reason "empty" (no strokes, or no ink),
 * "too-small" (to_mnist's TooSmallError) or "dot" (read_drawing's click rule: the ink's longer side under two
 * pen widths). Throws for a payload parse_drawing would refuse. */
export function preprocessDrawing(drawing) {
  const d = parseDrawing(drawing);
  if (!d.strokes.length) return { image: null, reason: "empty" };
  const out = toMnistDetailed(renderInk(d), d.size);
  if (!out.image) return out;
  const [top, left, bottom, right] = out.inkBox;
  const pen = Math.max(...d.strokes.map((s) => s.width));
  if (Math.max(bottom - top, right - left) < 2 * pen) return { image: null, inkBox: out.inkBox, reason: "dot" };
  return { ...out, reason: null };
}

/** The model's input for the canvas's payload: Float32Array(784) in [0, 1], or null where the server shows a
 * message instead (an empty canvas, a dot, a speck). Throws for a payload parse_drawing would refuse. */
export function drawingToInput(drawing) {
  return preprocessDrawing(drawing).image;
}
