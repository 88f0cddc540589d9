"""The page in two-digit mode: the MultiMNIST model (or a message saying why it is off), its sidebar, the
two-digit input, and the reconstruction and routing tabs."""

from __future__ import annotations

import streamlit as st

from capsviz.app import cached, layout, pair_inputs, pair_text, share, sidebar, state, text
from capsviz.app.panels import pair_prediction, pair_routing, pose
from capsviz.data.multimnist import SIZE
from capsviz.model.capsnet import CapsNet
from capsviz.training.checkpoint import CheckpointError


def _model(path: str) -> CapsNet | None:
    """The two-digit model, or None with the reason on the page (the sidebar's model switch stays)."""
    try:
        model = cached.model(path)
    except CheckpointError as exc:
        st.title(text.TITLE)
        st.error(pair_text.pair_missing(str(exc), cached.MULTIMNIST_CHECKPOINT_ENV))
        return None
    if model.cfg.image_size != SIZE:
        st.title(text.TITLE)
        st.error(pair_text.not_a_pair_model(model.cfg.image_size))
        return None
    return model


def render() -> None:
    path = cached.pair_checkpoint_path()
    model = _model(path)
    if model is None:
        return
    card, problem = cached.card(path)
    trained = int(card.get("routing_iterations") or model.cfg.routing_iterations)
    source, iterations = sidebar.render(card, trained, pair=True, card_problem=problem)
    st.markdown(f"## {text.TITLE}")
    st.caption(pair_text.PAIR_SUBTITLE)
    col_in, col_seen, col_lengths = layout.top_row()
    with col_in:
        inp = pair_inputs.input_from(source)
    share.write(pair=True, source=source, iterations=iterations)  # the URL follows every pen-up
    if inp is None:
        with col_seen:
            pair_prediction.seen_empty()
        return
    pair = cached.pair_trace(inp.image, iterations, path)
    sig = layout.signature(inp.image, iterations)
    with col_seen:
        pair_prediction.seen(pair)
    with col_lengths:
        pair_prediction.lengths(pair)
    recon_tab, routing_tab = st.tabs(state.PAIR_TABS, key=state.PAIR_TAB, on_change="rerun")
    with recon_tab:
        if recon_tab.open is not False:  # the first tab is open before the browser reports a choice
            pair_prediction.reconstructions(pair, inp)
            pose.render(pair.trace, sig, path, pair.digits)
    with routing_tab:
        if routing_tab.open:
            pair_routing.render(pair, inp, sig, card, iterations)
