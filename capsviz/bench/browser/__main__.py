"""``python -m capsviz.bench.browser``: the browser benchmark (capsviz.bench.browser.cli)."""

import sys

from capsviz.bench.browser.cli import main

if __name__ == "__main__":
    sys.exit(main())
