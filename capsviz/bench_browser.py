"""``python -m capsviz.bench_browser``: the benchmark's browser section on its own.

A short door to the package ``capsviz.bench.browser`` (its command: capsviz.bench.browser.cli)."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.bench.browser", run_name="__main__", alter_sys=True)
