"""The end-to-end tests' browser lookup: scripts/install_browser.sh and tests/e2e/conftest.py find the same
browser, and under CI a missing browser fails the end-to-end tests instead of skipping them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from capsviz.bench.browser import chromium as bench_browser

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "install_browser.sh"


def _load_e2e_conftest():
    spec = importlib.util.spec_from_file_location("capsviz_e2e_conftest", REPO_ROOT / "tests" / "e2e" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_e2e_conftest()


def _fake_browser(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\necho 'Chromium 999.0 (fake)'\n")
    path.chmod(0o755)
    return path


def _script_path(env: dict[str, str]) -> str:
    """Run the install script where a browser is already there (it then installs nothing) and return the
    path its last line reports."""
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("CAPSVIZ_CHROMIUM="), r.stdout
    return last.removeprefix("CAPSVIZ_CHROMIUM=")


def _env(path: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CAPSVIZ_CHROMIUM", "CI")}
    env["PATH"] = path
    env.update(extra)
    return env


@pytest.mark.parametrize("name", ["chromium", "chromium-browser"])
def test_script_and_conftest_agree_on_a_browser_found_on_path(tmp_path, name):
    """A browser that lands on PATH under either name (e.g. Ubuntu's chromium-browser) is found by both;
    where /usr/bin/chromium exists it wins in both."""
    fake = _fake_browser(tmp_path / "bin", name)
    env = _env(f"{fake.parent}:/usr/bin:/bin")
    want = "/usr/bin/chromium" if bench_browser._is_executable("/usr/bin/chromium") else str(fake)
    assert e2e.find_chromium(env) == want
    assert _script_path(env) == want


def test_override_wins_in_both(tmp_path):
    fake = _fake_browser(tmp_path / "elsewhere", "my-chromium")
    env = _env("/usr/bin:/bin", CAPSVIZ_CHROMIUM=str(fake))
    assert e2e.find_chromium(env) == str(fake)
    assert _script_path(env) == str(fake)


def test_a_wrong_override_is_an_error_that_names_it(tmp_path):
    env = _env("/usr/bin:/bin", CAPSVIZ_CHROMIUM=str(tmp_path / "nothing-here"))
    assert e2e.find_chromium(env) is None
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "CAPSVIZ_CHROMIUM" in r.stderr  # names the setting to fix


@pytest.fixture
def no_browser_anywhere(tmp_path, monkeypatch):
    """The conftest's lookup finds nothing and the install script fails, as on a machine without apt."""
    monkeypatch.setattr(bench_browser, "CHROMIUM_CANDIDATES", (str(tmp_path / "none"), "which:chromium"))
    failing = tmp_path / "install_browser.sh"
    failing.write_text("echo 'error: apt-get is not available' >&2\nexit 1\n")
    monkeypatch.setattr(e2e, "INSTALL_SCRIPT", failing)
    return _env(str(tmp_path / "empty-bin"))


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_missing_browser_fails_under_ci(no_browser_anywhere, ci):
    with pytest.raises(pytest.fail.Exception, match="CI") as err:
        e2e._ensure_chromium({**no_browser_anywhere, "CI": ci})
    assert "apt-get is not available" in str(err.value)  # the install script's own reason is passed on


def test_missing_browser_skips_with_the_reason_outside_ci(no_browser_anywhere):
    for env in (no_browser_anywhere, {**no_browser_anywhere, "CI": "false"}):
        with pytest.raises(pytest.skip.Exception, match="E2E TESTS NOT RUN") as err:
            e2e._ensure_chromium(env)
        assert "apt-get is not available" in str(err.value)


def test_wrong_override_under_ci_fails_naming_it(tmp_path):
    env = _env("/usr/bin:/bin", CAPSVIZ_CHROMIUM=str(tmp_path / "nothing-here"), CI="true")
    with pytest.raises(pytest.fail.Exception, match="CAPSVIZ_CHROMIUM"):
        e2e._ensure_chromium(env)
