"""``python -m capsviz.evaluate``: a checkpoint's accuracy on the MNIST (or MultiMNIST) test set.

A short door to ``capsviz.training.evaluate``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.training.evaluate", run_name="__main__", alter_sys=True)
