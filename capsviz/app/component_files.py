"""The app's own Streamlit components (``st.components.v2``): each is a folder under ``components/`` holding
``<folder>.html``, ``<folder>.css`` and ``<folder>.js`` (plain ES modules, no build step)."""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

COMPONENTS = Path(__file__).resolve().parent / "components"


@functools.cache
def declare(name: str, folder: str):
    """The component ``name`` made from ``components/<folder>/``: declared once per process."""
    read = lambda ext: (COMPONENTS / folder / f"{folder}.{ext}").read_text(encoding="utf-8")  # noqa: E731
    return st.components.v2.component(name, html=read("html"), css=read("css"), js=read("js"))
