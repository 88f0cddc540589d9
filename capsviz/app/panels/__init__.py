"""One module per panel of the page; each exposes ``render(...)``."""
