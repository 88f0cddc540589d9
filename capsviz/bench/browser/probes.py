"""Scripts installed in the page: a log of every websocket frame, and the pen-up probe (mouse-ups and what the
top row shows, with the frame that painted it), an animation-frame recorder; with the calls that install and read
them, and the page's clock origin (to line its times up with the server's)."""

from __future__ import annotations

# Every websocket frame the page sends or receives, with its size and performance.now() (and, for a received one,
# whether it carries the Prediction metric): installed before the page's scripts run (context.add_init_script),
# so it sees Streamlit's own socket.
WS_LOG_SCRIPT = """(() => {
  if (window.__capsvizWs) return;
  const log = (window.__capsvizWs = []);
  const size = (d) => (typeof d === "string" ? new Blob([d]).size : d.byteLength ?? d.size ?? 0);
  // a frame that carries the Prediction metric (its label's bytes): when the answer reached the page
  const label = [...new TextEncoder().encode("Prediction")];
  const carries = (d) => {
    if (!(d instanceof ArrayBuffer)) return false;
    const b = new Uint8Array(d), n = label.length;
    for (let i = b.indexOf(label[0]); i >= 0 && i <= b.length - n; i = b.indexOf(label[0], i + 1)) {
      let j = 1;
      while (j < n && b[i + j] === label[j]) j++;
      if (j === n) return true;
    }
    return false;
  };
  const Native = window.WebSocket;
  class LoggedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) =>
        log.push({ dir: "r", t: performance.now(), bytes: size(e.data), prediction: carries(e.data) }));
    }
    send(data) {
      log.push({ dir: "s", t: performance.now(), bytes: size(data) });
      return super.send(data);
    }
  }
  window.WebSocket = LoggedWebSocket;
})();"""

# Each mouse-up (with the input image shown then) and each change of what the top row shows (the Prediction
# value, the 28x28 input's image): the time of the DOM change and of the next animation frame (~ the paint).
# The 28x28 input is the first st.image in the main area: the canvas is a component, not an image.
PEN_UP_PROBE = """() => {
  if (window.__capsvizProbe) return;
  const probe = (window.__capsvizProbe = { ups: [], shown: [] });
  const seen = () => {
    const img = document.querySelector('[data-testid="stMain"] [data-testid="stImage"] img');
    const metric = [...document.querySelectorAll('[data-testid="stMetric"]')].find(
      (m) => m.querySelector('[data-testid="stMetricLabel"]')?.textContent.trim() === "Prediction");
    const value = metric?.querySelector('[data-testid="stMetricValue"]')?.textContent.trim() ?? null;
    return { src: img ? img.getAttribute("src") : null, value };
  };
  window.addEventListener("mouseup", () => probe.ups.push({ t: performance.now(), ...seen() }), true);
  let last = "";
  const look = () => {
    const now = seen(), key = `${now.value}|${now.src}`;
    if (key === last) return;
    last = key;
    const entry = { t: performance.now(), paint: null, ...now };
    probe.shown.push(entry);
    requestAnimationFrame(() => (entry.paint = performance.now()));
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["src"],
  });
  look();
}"""

# Once the page is idle after a drawing: the first frame after the last mouse-up that showed what the page
# shows now (the finished drawing's input image and prediction; an earlier stroke's rerun that lands after the
# mouse-up shows another image), and the canvas's first send after the mouse-up.
PEN_UP_RESULT = """() => {
  const p = window.__capsvizProbe, up = p.ups[p.ups.length - 1], last = p.shown[p.shown.length - 1];
  if (!up || !last || last.value === null) return null;
  const hit = p.shown.find((s) => s.t > up.t && s.value === last.value && s.src === last.src);
  if (!hit || hit.paint === null) return null;
  const send = (window.__capsvizWs || []).find((w) => w.dir === "s" && w.t > up.t);
  return { up: up.t, shown: hit.paint, send: send && send.t < hit.t ? send.t : null, value: hit.value };
}"""
# Something new is on the page since the last mouse-up: a rerun answered.
PEN_UP_ANSWERED = """() => {
  const p = window.__capsvizProbe, up = p.ups[p.ups.length - 1];
  return !!up && p.shown.some((s) => s.t > up.t && s.value !== null && s.src !== up.src);
}"""


def install_ws_log(context_or_page) -> None:
    """Log the websocket frames of every page opened afterwards (``window.__capsvizWs``)."""
    context_or_page.add_init_script(WS_LOG_SCRIPT)


def ws_log(page, start: int = 0) -> list[dict]:
    """The logged frames from index ``start``: {dir: "s" | "r", t (ms, performance.now()), bytes, prediction}."""
    return page.evaluate("n => (window.__capsvizWs || []).slice(n)", start)


def ws_count(page) -> int:
    return page.evaluate("() => (window.__capsvizWs || []).length")


# Every animation frame's time while it runs (window.__capsvizFrames): the page's frame rate during a stroke.
FRAME_RECORDER_START = """() => {
  const rec = (window.__capsvizFrames = { on: true, t: [] });
  const tick = (t) => { if (!rec.on) return; rec.t.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""
FRAME_RECORDER_STOP = """() => { const rec = window.__capsvizFrames; rec.on = false; return rec.t; }"""


def time_origin_ms(page) -> float:
    """The page's performance.timeOrigin: performance.now() + this is wall-clock ms since the epoch, the clock the
    instrumented server (capsviz.bench.load.server) stamps its runs and sections with."""
    return float(page.evaluate("() => performance.timeOrigin"))
