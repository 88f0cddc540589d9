"""Which ink drives each capsule: attribution maps over the input (Integrated Gradients,
capsviz.inspect.attribution), the contrast between two capsules, and where the primary capsules above the
most-attributed ink route."""

from __future__ import annotations

import numpy as np
import streamlit as st

from capsviz.app import cached, state
from capsviz.app import explain_text as et
from capsviz.app.theme import palette
from capsviz.data.preprocess import Preprocessed
from capsviz.figures import atlas as atlas_figures
from capsviz.figures.lengths import rival_of
from capsviz.inspect.attribution import Attribution, routing_relation, to_source_grid
from capsviz.inspect.trace import CapsuleTrace
from capsviz.model.losses import M_MINUS


def _pickers(trace: CapsuleTrace, sig: str) -> tuple[int, int | None]:
    """The capsule to explain (default: the prediction) and the one to contrast it with, or None. The contrast
    starts on for near-ties and mistakes: a runner-up longer than the margin loss's m- (0.1)."""
    pred = trace.prediction
    digits = list(range(len(trace.lengths)))
    a, b = st.columns(2)
    with a:
        target = st.segmented_control(
            et.CAPSULE_PICKER, digits, default=pred, key=state.explain_capsule_key(sig), required=True, help=et.INTRO
        )
    target = pred if target is None else int(target)
    rival = rival_of(trace.lengths, target)
    with b:
        near_tie = bool(trace.lengths[rival] > M_MINUS)
        if not st.toggle(
            et.CONTRAST_TOGGLE, value=near_tie, key=f"{state.explain_versus_key(sig)}_on", help=et.CONTRAST_HELP
        ):
            return target, None
        versus = st.segmented_control(
            et.VERSUS_PICKER,
            [d for d in digits if d != target],
            default=rival,
            key=f"{state.explain_versus_key(sig)}_{target}",  # a new capsule starts from its own runner-up
            required=True,
        )
    return target, rival if versus is None else int(versus)


def _summary(a: Attribution, what: str) -> str:
    return (
        f"{what}: the map sums to {a.values.sum():+.3f} = {a.score:.3f} on this input − {a.baseline_score:.3f} on "
        f"black (off by {a.delta:+.3f})."
    )


def _maps(trace: CapsuleTrace, image: np.ndarray, one: Attribution, two: Attribution | None) -> None:
    t = one.target
    maps, titles = [one.values], [f"Ink for capsule {t} (length {trace.lengths[t]:.2f})"]
    text = _summary(one, f"Capsule {t}")
    if two is not None:
        maps.append(two.values)
        titles.append(f"What makes it a {t} rather than a {two.versus}")
        text += " " + _summary(two, f"Length of {t} − length of {two.versus}")
    st.plotly_chart(atlas_figures.attribution_figure(image, maps, titles, palette=palette()), key=state.FIG_ATTRIBUTION)
    st.caption(text)


def _routing(trace: CapsuleTrace, image: np.ndarray, a: Attribution, versus: int | None) -> None:
    rel = routing_relation(trace, a.values)
    fig = atlas_figures.routing_relation_figure(
        image, rel.cell_weight, rel.routed, rel.routed_all, a.target, versus, palette=palette()
    )
    st.plotly_chart(fig, key=state.FIG_EXPLAIN_ROUTING)
    share, base, uniform = rel.routed[a.target], rel.routed_all[a.target], 1 / len(rel.routed)
    st.caption(
        f"The primary capsules above that ink send {share:.1%} of their votes to capsule {a.target} (uniform "
        f"routing: {uniform:.0%}; all primary capsules: {base:.1%}). " + et.ROUTING_CAPTION
    )


def _on_source(source: np.ndarray, pre: Preprocessed, a: Attribution) -> None:
    """The same map drawn back onto the user's drawing, through the preprocessing's crop and scale."""
    gray = np.asarray(source, np.float32)
    gray = gray[..., :3].mean(axis=-1) if gray.ndim == 3 else gray
    gray = gray / max(float(gray.max()), 1e-6)
    gray = 1.0 - gray if pre.inverted else gray
    title = f"On your drawing: ink for capsule {a.target}"
    fig = atlas_figures.source_overlay_figure(gray, to_source_grid(a.values, pre), title, palette=palette())
    st.plotly_chart(fig, key=state.FIG_ATTRIBUTION_SOURCE)


@st.fragment
def render(
    trace: CapsuleTrace,
    image: np.ndarray,
    model_path: str,
    sig: str,
    source: np.ndarray | None = None,
    pre: Preprocessed | None = None,
) -> None:
    """The attribution view; ``source`` and ``pre`` (the drawing or upload and its preprocessing) add the map on
    the original drawing. Only this fragment reruns when a picker moves; every map is cached."""
    st.caption(et.INTRO)
    target, versus = _pickers(trace, sig)
    iterations = trace.num_iterations
    one = cached.attribution(image, target, None, iterations, model_path)
    two = None if versus is None else cached.attribution(image, target, versus, iterations, model_path)
    _maps(trace, image, one, two)
    _routing(trace, image, one, versus)
    if source is not None and pre is not None:
        _on_source(source, pre, one)
