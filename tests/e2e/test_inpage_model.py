"""The CapsNet run in the page: capsviz/app/components/inpage/ (a module Web Worker with the vendored
onnxruntime-web, one WASM thread) on the exported graph (capsviz.export.onnx), in headless chromium.

The page (tests/e2e/inpage_model_page.py) is served from a temporary folder with Streamlit's static file serving;
it runs the shipped model on six MNIST test digits in the page and prints the server's classes beside them. The
test checks they agree, that the graph and the WASM runtime are downloaded once across a rerun and a second visit
(the worker keeps them in the Cache API), that a missing model is reported as unavailable, and that a burst of
requests drops the middle ones; it prints the in-page trace time and the bytes each visit transferred.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = REPO / "capsviz" / "app" / "components"
PAGE = Path(__file__).resolve().parent / "inpage_model_page.py"
RESULT = "[data-testid='inpage-result']"
LOAD_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def inpage_url(tmp_path_factory):
    from capsviz.bench.browser.serve import serve_streamlit

    root = tmp_path_factory.mktemp("inpage-app")
    for name in ("inpage_model_page.py", "inpage_model_page.js"):
        shutil.copy(PAGE.parent / name, root / name)
    for part in ("inpage", "vendor"):
        shutil.copytree(COMPONENTS / part, root / "static" / part)
    env = {
        "STREAMLIT_SERVER_ENABLE_STATIC_SERVING": "true",
        "CAPSVIZ_REPO_ROOT": str(REPO),
        "CAPSVIZ_CACHE_DIR": str(root / "onnx-cache"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # serve_streamlit passes its environment on
    try:
        with serve_streamlit(root / "inpage_model_page.py", root / "streamlit.log", 120) as url:
            yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Traffic:
    """Every finished request of a browser context: URL, status and bytes on the wire (headers + encoded body)."""

    def __init__(self, context):
        self.rows: list[tuple[str, int, int]] = []
        context.on("requestfinished", self._finished)

    def _finished(self, request):
        response = request.response()
        sizes = request.sizes()
        wire = sizes["responseHeadersSize"] + max(0, sizes["responseBodySize"])
        self.rows.append((request.url, response.status if response else 0, wire))

    def mark(self) -> int:
        return len(self.rows)

    def since(self, mark: int) -> list[tuple[str, int, int]]:
        return self.rows[mark:]


def _result(page, run_id: int | None = None) -> dict:
    """The probe's JSON once it reports run ``run_id`` (any finished run when None) or an error. (The component
    lives in a shadow root, which Playwright's locators pierce and document.querySelector does not.)"""
    locator = page.locator(RESULT)
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while True:
        text = locator.first.text_content() if locator.count() else ""
        if text and text.startswith("{"):
            result = json.loads(text)
            assert "error" not in result, result["error"]
            if run_id is None or result.get("run_id") == run_id:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no result for run {run_id} in {LOAD_TIMEOUT_S} s; the probe shows {text!r}")
        page.wait_for_timeout(250)


def _server(page) -> dict:
    return json.loads(page.locator("code").filter(has_text='"server"').first.text_content())


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration, subprocess.SubprocessError):
        return platform.processor() or "unknown CPU"


def test_the_page_runs_the_model_and_downloads_it_once(browser, inpage_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    traffic = Traffic(context)
    try:
        page = context.new_page()
        page.goto(inpage_url)
        first = _result(page, 0)
        server = _server(page)
        assert first["ready"]["hash"] == server["hash"]
        assert first["classes"] == server["server"], (first["classes"], server["server"])
        assert first["ready"]["source"] == "network" and first["unavailable"] == []
        assert first["shapes"] == {"lengths": 30, "couplings": 3 * 1152 * 10, "poses": 3 * 160}
        assert first["burst"][0] is not None and first["burst"][-1] is not None
        assert first["burst"][1:-1] == [None] * 8  # dropped while one ran: replaced, not queued
        visit1 = traffic.since(0)

        page.get_by_role("button", name="Run again").click()  # a rerun: the same worker, nothing downloaded
        rerun = _result(page, 1)
        assert rerun["classes"] == server["server"]

        mark = traffic.mark()
        page.reload()  # a second visit: a new worker, the graph and the runtime from the Cache API
        second = _result(page, 0)
        assert second["classes"] == server["server"] and second["ready"]["source"] == "store"
        visit2 = traffic.since(mark)
    finally:
        context.close()

    def fetched(rows, suffix):
        return [r for r in rows if r[0].split("?")[0].endswith(suffix) and r[1] == 200]

    everything = traffic.since(0)
    assert len(fetched(everything, ".stages")) == 1, fetched(everything, ".stages")
    assert len(fetched(everything, ".wasm")) == 1, fetched(everything, ".wasm")
    kb = lambda rows: sum(r[2] for r in rows) / 1000  # noqa: E731
    model_files = (".stages", ".wasm", ".mjs", "model_client.js", "model_worker.js")
    in_page = lambda rows: [r for r in rows if r[0].split("?")[0].endswith(model_files)]  # noqa: E731
    print(
        f"\nin-page model on {_cpu()} ({os.cpu_count()} cores), one WASM thread, 3 iterations, 25 runs:"
        f"\n  trace (session.run) p50 {first['trace_ms']['p50']:.1f} ms, p95 {first['trace_ms']['p95']:.1f} ms,"
        f" min {first['trace_ms']['min']:.1f} ms; round trip p50 {first['round_trip_ms']['p50']:.1f} ms,"
        f" p95 {first['round_trip_ms']['p95']:.1f} ms"
        f"\n  load: first visit {first['load_ms']:.0f} ms (session {first['ready']['sessionMs']:.0f} ms),"
        f" second visit {second['load_ms']:.0f} ms (session {second['ready']['sessionMs']:.0f} ms)"
        f"\n  bytes: first visit {kb(visit1):,.0f} kB ({kb(in_page(visit1)):,.0f} kB model and runtime),"
        f" second visit {kb(visit2):,.0f} kB ({kb(in_page(visit2)):,.0f} kB model and runtime)"
    )


def test_a_missing_model_is_reported_unavailable_once(browser, inpage_url):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{inpage_url}/?broken=1")
        result = _result(page)
        assert result.get("ready") is None and "classes" not in result
        assert len(result["unavailable"]) == 1 and "HTTP 404" in result["unavailable"][0], result
    finally:
        context.close()
