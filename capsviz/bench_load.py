"""``python -m capsviz.bench_load``: the load benchmark: many sessions against one server.

A short door to the package ``capsviz.bench.load`` (its command: capsviz.bench.load.cli)."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.bench.load", run_name="__main__", alter_sys=True)
