"""``python -m capsviz.drawn_pairs``: the two-digit model's accuracy on scripted overlapping drawings.

A short door to ``capsviz.testsets.drawn_pairs``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.testsets.drawn_pairs", run_name="__main__", alter_sys=True)
