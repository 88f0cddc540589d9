"""The Streamlit app: UI state declared in one place (state), cached library calls (cached), the inputs, one module
per panel (panels/), and the page-side components (components/).

Floor 8: the only subpackage that imports streamlit; may import every floor below, never ``capsviz.bench``.
"""
