"""The viewer's theme: the page follows the browser's light or dark setting (.streamlit/config.toml sets no
``base``; its [theme.light] and [theme.dark] sections hold the two pages' colours), and the figures follow it.

``st.context.theme.type`` is the type the browser reports with each rerun ("light" or "dark"); it is None where
no browser sent one (AppTest, a bare ``streamlit run`` client), and then the page is drawn light. After the
viewer switches theme in the settings menu the figures change at the next rerun (Streamlit issue #11920).
"""

from __future__ import annotations

import streamlit as st

from capsviz.figures.style import Palette, palette_for


def theme_type() -> str:
    """The theme type, "light" or "dark": a plain string, so cached figures can be keyed by it."""
    return palette().name


def palette() -> Palette:
    """The figures' colours for the viewer's theme (light when unknown)."""
    return palette_for(st.context.theme.type)
