"""capsviz/app/components/inpage/preprocess.js without a browser: the same module run by Node.js (when it is
installed; skipped otherwise) on the edge cases and 20 scripted drawings, against capsviz.data.strokes.render_ink
and capsviz.data.preprocess.to_mnist. The browser test (tests/e2e/test_inpage_preprocess.py) is the one that
counts: it runs chromium's engine on every drawing set and compares classes; this one catches a broken port
early, where there is no chromium.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.inpage_preprocess_cases import edge_payloads, python_side, scripted_payloads

MODULE = Path(__file__).resolve().parents[1] / "capsviz" / "app" / "components" / "inpage" / "preprocess.js"

RUNNER = """
import { readFileSync, writeFileSync } from "node:fs";
const pp = await import(process.argv[2]);
const cases = JSON.parse(readFileSync(process.argv[3], "utf8"));
const out = cases.map((p) => {
  const r = pp.preprocessDrawing(p);
  return {
    ink: Buffer.from(pp.renderInk(p)).toString("base64"),
    image: r.image ? Buffer.from(r.image.buffer).toString("base64") : null,
    reason: r.reason,
  };
});
writeFileSync(process.argv[4], JSON.stringify(out));
"""


def test_node_runs_the_port_like_python(tmp_path):
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("Node.js not installed: the port is checked by the browser test only")
    module = tmp_path / "preprocess.mjs"  # .mjs: Node 20 reads a bare .js as CommonJS
    shutil.copy(MODULE, module)
    runner = tmp_path / "run.mjs"
    runner.write_text(RUNNER)
    cases = list(edge_payloads().values()) + scripted_payloads(n_per_digit=2, seed=0)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    subprocess.run(
        [node, str(runner), module.as_uri(), str(tmp_path / "cases.json"), str(tmp_path / "out.json")],
        check=True,
        timeout=120,
    )
    results = json.loads((tmp_path / "out.json").read_text())
    assert len(results) == len(cases)
    for i, (payload, js) in enumerate(zip(cases, results, strict=True)):
        ink, image, reason = python_side(payload)
        js_ink = np.frombuffer(base64.b64decode(js["ink"]), np.uint8).reshape(ink.shape)
        assert int(np.abs(js_ink.astype(np.int16) - ink).max()) <= 2, f"drawing {i}: ink"
        assert js["reason"] == reason, f"drawing {i}: Python {reason}, port {js['reason']}"
        if image is not None:
            js_image = np.frombuffer(base64.b64decode(js["image"]), np.float32).reshape(image.shape)
            assert float(np.abs(js_image - image).max()) <= 2 / 255, f"drawing {i}: 28x28"
