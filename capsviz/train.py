"""``python -m capsviz.train``: train a CapsNet (MNIST or MultiMNIST), resumable.

A short door to ``capsviz.training.train``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.training.train", run_name="__main__", alter_sys=True)
