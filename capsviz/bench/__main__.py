"""``python -m capsviz.bench``: the benchmark table (capsviz.bench.table)."""

import sys

from capsviz.bench.table import main

if __name__ == "__main__":
    sys.exit(main())
