"""``python -m capsviz.routing_effect``: how much routing moves the couplings, over test images.

A short door to ``capsviz.inspect.routing_effect``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.inspect.routing_effect", run_name="__main__", alter_sys=True)
