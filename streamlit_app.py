"""Inside a Capsule Network: draw a digit and watch a trained CapsNet (Sabour et al. 2017) read it.

    streamlit run streamlit_app.py

Settings (environment): CAPSVIZ_CHECKPOINT (checkpoint folder or .safetensors file, default the shipped
checkpoints/), CAPSVIZ_MULTIMNIST_CHECKPOINT (the two-digit model, default checkpoints/multimnist/),
CAPSVIZ_DATA_DIR (folder holding MNIST/raw/) for the test-set galleries. This file only
composes the page; capsviz.app lays out the panels and capsviz.* computes.
"""

from __future__ import annotations

import streamlit as st

from capsviz.app import cached, inputs, layout, pair_page, share, sidebar, state, text
from capsviz.app.panels import equivariance, explain, pose, prediction, routing
from capsviz.training.checkpoint import CheckpointError


def run() -> None:
    st.set_page_config(page_title=text.TITLE, page_icon="🧿", layout="wide")
    share.apply()  # a shared link: its drawing, input, tab and routing iterations (once per session)
    if sidebar.mode() == state.TWO_DIGITS:
        pair_page.render()  # the MultiMNIST model: capsviz.app.pair_page
        return
    model_path = cached.checkpoint_path()
    try:
        model = cached.model(model_path)
    except CheckpointError as exc:
        st.title(text.TITLE)
        st.error(str(exc))
        st.stop()
    card, problem = cached.card(model_path)
    trained = int(card.get("routing_iterations") or model.cfg.routing_iterations)
    source, iterations = sidebar.render(card, trained, card_problem=problem)
    st.markdown(f"## {text.TITLE}")
    st.caption(text.SUBTITLE)
    col_in, col_seen, col_lengths = layout.top_row()
    seen = prediction.SeenColumn(col_seen, iterations, model_path)  # the canvas writes it before its component
    with col_in:
        reading = inputs.image_from(source, model_path, iterations, before_canvas=seen.show)
    share.write(pair=False, source=source, iterations=iterations)  # the URL follows every pen-up
    trace = seen.show(reading)
    if reading is None or trace is None:
        return
    image = reading.image
    sig = layout.signature(image, iterations)
    with col_lengths:
        prediction.lengths(trace)
    pose_tab, routing_tab, explain_tab, eq_tab = st.tabs(state.TABS, key=state.TAB, on_change="rerun")
    with pose_tab:
        if pose_tab.open is not False:  # the first tab is open before the browser reports a choice
            pose.render(trace, sig, model_path)
    with routing_tab:
        if routing_tab.open:
            routing.render(trace, image, sig)
    with explain_tab:
        if explain_tab.open:  # attribution costs ~150 ms: only when its view is open
            explain.render(trace, image, model_path, sig, source=reading.source, pre=reading.pre)
    with eq_tab:
        if eq_tab.open:
            equivariance.render(image, trace.prediction, iterations, model_path)


if __name__ == "__main__":
    run()
