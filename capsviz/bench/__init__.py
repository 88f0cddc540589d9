"""The benchmark: ``python -m capsviz.bench`` prints the table (table); its browser section drives the app in headless
chromium (browser) and its load section runs many sessions against one server (load).

The top floor: may import everything; nothing outside ``capsviz.bench`` imports it.
"""
