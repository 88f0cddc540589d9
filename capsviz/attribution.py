"""``python -m capsviz.attribution``: Integrated Gradients' faithfulness, measured on test digits.

A short door to ``capsviz.inspect.attribution``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.inspect.attribution", run_name="__main__", alter_sys=True)
