"""The project installs the way Python projects do: a wheel that carries the app's assets and the shipped
checkpoint, console entry points, and an app that runs from any folder against the installed copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENTRY_POINTS = ("capsviz-train", "capsviz-evaluate", "capsviz-bench")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install .` into a folder of its own (dependencies come from the test's environment)."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(REPO), "-w", str(wheels)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("capsviz-*.whl")
    site = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    install = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    return site


def _run(code: str, site: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CAPSVIZ_")} | env
    environ["PYTHONPATH"] = str(site)  # the installed copy, not the checkout
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd, env=environ
    )


def test_the_wheel_carries_assets_and_the_shipped_checkpoint(installed):
    names = set()
    for whl in installed.parent.joinpath("wheels").glob("*.whl"):
        names |= set(zipfile.ZipFile(whl).namelist())
    assert "capsviz/shipped/capsnet.safetensors" in names and "capsviz/shipped/model_card.json" in names
    for component in ("canvas", "pose_editor"):  # the custom components' html, css and js
        for ext in ("html", "css", "js"):
            assert f"capsviz/app/components/{component}/{component}.{ext}" in names
    # every package of the checkout ships (a subpackage missing from pyproject's list imports in the checkout only)
    packages = sorted(p.parent.relative_to(REPO).as_posix() for p in (REPO / "capsviz").rglob("__init__.py"))
    assert packages and [p for p in packages if f"{p}/__init__.py" not in names] == []
    points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(next(installed.parent.joinpath("wheels").glob("*.whl"))).read(points).decode()
    for name in ENTRY_POINTS:
        assert f"{name} = capsviz." in text


def test_the_installed_copy_loads_the_shipped_model_from_any_folder(installed, tmp_path):
    code = (
        "import capsviz.training.checkpoint as c; m = c.load_model(); "
        "print(c.DEFAULT_DIR, c.read_card()['test_accuracy'])"
    )
    out = _run(code, installed, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    where, accuracy = out.stdout.split()
    assert Path(where).is_relative_to(installed)  # found inside the installed package, not the checkout
    assert float(accuracy) > 99


def test_the_app_runs_from_another_folder_on_the_installed_copy(installed, tmp_path):
    shutil.copy(REPO / "streamlit_app.py", tmp_path / "streamlit_app.py")  # the script alone, no checkout
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        "import capsviz\n"
        f"assert capsviz.__file__.startswith({str(installed)!r}), capsviz.__file__\n"
        "at = AppTest.from_file('streamlit_app.py', default_timeout=120).run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "assert not at.error, [e.value for e in at.error]\n"
        "print(' '.join(m.value for m in at.sidebar.markdown))\n"
    )
    out = _run(code, installed, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Test accuracy" in out.stdout  # the shipped model card was found and shown
