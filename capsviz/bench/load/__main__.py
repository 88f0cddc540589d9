"""``python -m capsviz.bench.load``: the load benchmark (capsviz.bench.load.cli)."""

import sys

from capsviz.bench.load.cli import main

if __name__ == "__main__":
    sys.exit(main())
