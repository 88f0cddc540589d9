"""``python -m capsviz.redrawn_mnist``: MNIST test digits re-inked with the canvas pen, and their accuracy.

A short door to ``capsviz.testsets.redrawn_mnist``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.testsets.redrawn_mnist", run_name="__main__", alter_sys=True)
