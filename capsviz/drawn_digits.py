"""``python -m capsviz.drawn_digits``: the shipped model's accuracy on scripted drawn digits.

A short door to ``capsviz.testsets.drawn_digits``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.testsets.drawn_digits", run_name="__main__", alter_sys=True)
