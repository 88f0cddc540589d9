"""The benchmark's browser section: the pose editor and the app in headless chromium, as a user sees them.

``python -m capsviz.bench.browser`` (or ``python -m capsviz.bench_browser``) runs it (cli). The modules:

- serve: ``streamlit run`` a page on a free local port, wait for it, stop it;
- chromium: find Debian's chromium as scripts/install_browser.sh does, launch it through Playwright;
- pages: locators and actions for the pose editor and the app page (shared with tests/e2e);
- probes: scripts installed in the page (websocket frame log, pen-up probe);
- measure: the measurements (drag, decoder, bytes, pen-up to prediction);
- run: serve, open, measure; report: the results as a table.
"""
