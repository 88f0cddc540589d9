"""The benchmark command runs and reports what other tools read (its numbers are not asserted:
speed is measured by the benchmark, not by timed tests)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_bench_json_has_the_documented_keys():
    r = subprocess.run(
        [sys.executable, "-m", "capsviz.bench", "--steps", "1", "--repeats", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "training, bf16 autocast (images/s)" in r.stdout
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("train_images_per_s", "train_images_per_s_fp32", "trace_ms_p50", "decoder_ms_p50", "peak_rss_mb"):
        assert isinstance(res[key], (int, float)) and res[key] > 0, key


def test_app_timings_cover_each_tab_and_the_pose_slider():
    from capsviz.app.timing import app_timings

    res = app_timings(drawings=1, slider_moves=1)
    for key in (
        "app_new_drawing_ms_p50",
        "app_pose_slider_ms_p50",
        "app_new_drawing_routing_tab_ms_p50",
        "app_new_drawing_equivariance_tab_ms_p50",
    ):
        assert isinstance(res[key], float) and res[key] > 0, key
