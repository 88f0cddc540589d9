"""Serving a Streamlit script for the benchmark: ``streamlit run`` on a free local port, its health check, its stop.

The load benchmark (capsviz.bench.load.server) starts its instrumented server with the same flags and waits."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PAGE = REPO_ROOT / "tests" / "e2e" / "pose_editor_page.py"
APP_SCRIPT = REPO_ROOT / "streamlit_app.py"
READY_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float) -> None:
    """Until the server at ``url`` answers its health check; RuntimeError (with its log) if it exits or stalls."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; log:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer in {timeout_s:.0f} s; log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.25)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Ask the server to stop; kill it if it has not within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


def server_flags(port: int) -> list[str]:
    """`streamlit run` flags for a local, headless server on ``port`` that watches no files."""
    return [
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


@contextlib.contextmanager
def serve_streamlit(
    script: str | os.PathLike, log_path: str | os.PathLike | None = None, timeout_s: float = READY_TIMEOUT_S
) -> Iterator[str]:
    """``streamlit run script`` on a free port from the repository root; yields its URL, stops it afterwards."""
    script = Path(script)
    if not script.is_absolute():
        script = REPO_ROOT / script
    if not script.exists():
        raise FileNotFoundError(f"no page script at {script}")
    port = free_port()
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="capsviz-serve-")) / "streamlit.log"
    log_path = Path(log_path)
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), *server_flags(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log_path, timeout_s)
        yield url
    finally:
        stop_process(proc)
