"""Browser benchmark of the pose editor (capsviz/app/pose_editor.py) in headless Chromium, as a user sees it.

    python -m capsviz.bench_browser            # a table; --json adds one JSON object as the last line

It serves a page holding the editor (default: tests/e2e/pose_editor_page.py, the shipped checkpoint on fixed
drawn digits) with ``streamlit run``, opens it in Debian's chromium through Playwright, and measures:

- ``measure_drag``: one slider dragged with the mouse over its whole range in 60 moves spread over 1 s: how
  many distinct reconstructions the page drew during the drag (target >= 50) and how late each input was
  drawn (input event to the end of the frame that drew it; target: none over 50 ms);
- ``measure_decode``: the in-page decoder, one reconstruction (decode only) p50 and p90, and a drawn frame
  (decode + paint) p50 from the drag;
- ``measure_bytes``: the bytes the component receives for the first drawing of a session (decoder weights
  included, then the small follow-up once the page reports it holds them) and for a drawing after it, plus
  everything the page's websocket received in each phase.

And in the real app (``streamlit_app.py`` served by ``streamlit run``, the pose tab open):

- ``measure_ink``: one 1 s stroke drawn with the mouse (60 moves) while every animation frame's time is recorded:
  the interval between frames while the pen is down, p50 / p95 (target p95 <= 20 ms), and what inking one frame
  costs the canvas (its own log, ``_capsviz.log().paint``);
- ``measure_pen_up``: scripted drawings (capsviz.testsets.drawn_digits) replayed with the mouse, as the e2e tests
  draw; for each, from the last mouse-up to the first frame that shows the prediction of the finished drawing
  (the input the model sees has changed and the Prediction metric shows a value), p50 / p95 (targets 150 /
  300 ms), with the timeline of the drawing's rerun: pen-up -> the canvas's send (the websocket BackMsg leaving)
  -> script start -> input read -> trace done -> Prediction sent -> its frame received -> script end (the
  server's own times: the app is served with the load benchmark's counters, capsviz.bench.load.server, which
  stamp each run and section) -> Prediction painted; the rerun's time by section; and the websocket bytes the
  page sends (the strokes) and receives per drawing.

The locators and actions for the app page (canvas, strokes, Prediction, Clear, tabs) live in
capsviz.bench.browser.pages: the e2e tests in tests/e2e import them. The coordinator wires this into
``python -m capsviz.bench --browser`` through ``run_browser_bench`` (run) and ``format_table`` (report).
"""

from __future__ import annotations

import argparse
import json
import sys

from capsviz.bench.browser.report import format_table
from capsviz.bench.browser.run import run_browser_bench
from capsviz.bench.browser.serve import APP_SCRIPT, DEFAULT_PAGE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m capsviz.bench_browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--page", default=str(DEFAULT_PAGE), help="Streamlit script holding the pose editor")
    p.add_argument("--drags", type=int, default=3, help="timed drags (the worst is reported; 0: skip)")
    p.add_argument("--app", default=str(APP_SCRIPT), help="the app script for pen-up to prediction")
    p.add_argument("--drawings", type=int, default=10, help="drawings for pen-up to prediction (0: skip)")
    p.add_argument("--no-ink", action="store_true", help="skip the ink's frame times during a 1 s stroke")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args(argv)
    result = run_browser_bench(args.page, args.drags, args.app, args.drawings, ink=not args.no_ink)
    print(format_table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
