"""``python -m capsviz.pose_atlas``: measure the pose atlas (names and ranges of the 16 dimensions).

A short door to ``capsviz.inspect.pose_atlas``, where the command lives."""

import runpy

if __name__ == "__main__":
    runpy.run_module("capsviz.inspect.pose_atlas", run_name="__main__", alter_sys=True)
