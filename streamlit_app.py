"""Inside a Capsule Network: draw a digit and watch a trained CapsNet (Sabour et al. 2017) read it.

    streamlit run streamlit_app.py

Settings (environment): CAPSVIZ_CHECKPOINT (checkpoint folder or .safetensors file, default
checkpoints/), CAPSVIZ_DATA_DIR (folder holding MNIST/raw/, default ../shared/data) for the test-set
gallery. This file only composes the page; capsviz.* does the computing.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import streamlit as st

from capsviz import figures as F
from capsviz.checkpoint import DEFAULT_DIR, CheckpointError, load_model, read_card
from capsviz.data import ENV_VAR, DataNotFoundError, load_mnist, resolve_data_dir
from capsviz.drawn_digits import classify
from capsviz.equivariance import LABELS, LIMITS, Transform, run_images, sweep, transform_image
from capsviz.inspection import CapsuleTrace, perturbation_grid, primary_grid, reconstruct, trace_image
from capsviz.preprocess import EmptyDrawingError, PreprocessError, TooSmallError, load_upload, to_mnist

CHECKPOINT_ENV = "CAPSVIZ_CHECKPOINT"
SOURCES = ("Draw", "MNIST test set", "Upload")
GALLERY_MODES = ("By index", "By class", "Random", "Misclassified")
DRAW_PROMPT = "✏️ **Draw a digit** (0–9) in the black box: the prediction updates after every stroke."
IMAGE_PX = 168  # 28 x 6, nearest-neighbour
CANVAS_PX = 280  # the drawing canvas's side (streamlit-drawable-canvas takes CSS pixels)
INPUT_COLUMN_PX = CANVAS_PX + 16
# streamlit-drawable-canvas parks its (invisible) undo/redo/erase toolbar over the top-right corner of the
# drawing area until the pointer has hovered there for 0.1 s: a stroke begun in that corner at once (a quick
# hand, a replayed drawing) lands on the toolbar and is lost. Its styles live in a shadow root, so this
# script adds one rule there: the toolbar stays above the canvas, always visible.
CANVAS_TOOLBAR_FIX = """<script>
(() => {
  if (window.__capsvizToolbarFix) return;
  window.__capsvizToolbarFix = true;
  const rule = ".dc-toolbar{top:-2.65rem!important;padding-bottom:0!important;opacity:1!important}";
  const watched = new WeakSet();  // the canvas fills its shadow root after mounting: watch each root too
  const patch = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      if (!root) continue;
      if (!watched.has(root)) {
        watched.add(root);
        new MutationObserver(patch).observe(root, { childList: true, subtree: true });
      }
      if (root.querySelector(".dc-toolbar") && !root.getElementById("capsviz-toolbar-fix")) {
        const style = document.createElement("style");
        style.id = "capsviz-toolbar-fix";
        style.textContent = rule;
        root.appendChild(style);
      }
    }
  };
  new MutationObserver(patch).observe(document.body, { childList: true, subtree: true });
  patch();
})();
</script>"""
POSE_SPAN = 0.3  # pose sliders run over the capsule's value +- this
DELTAS = np.round(np.arange(-0.25, 0.2501, 0.05), 2)
POSE_TAB, ROUTING_TAB, EQUIVARIANCE_TAB = (
    ":material/tune: Pose dimensions",
    ":material/hub: Routing",
    ":material/rotate_90_degrees_ccw: Equivariance",
)
TRANSFORM_NAMES = {"angle": "Rotate", "scale": "Scale", "shift_x": "Shift x", "shift_y": "Shift y"}

st.set_page_config(page_title="Inside a Capsule Network", page_icon="🧿", layout="wide")


# --- cached computation ----------------------------------------------------------------------


def checkpoint_path() -> str:
    return os.environ.get(CHECKPOINT_ENV) or str(DEFAULT_DIR)


@st.cache_resource(show_spinner="Loading the CapsNet…")
def get_model(path: str):
    return load_model(path)


@st.cache_data(show_spinner=False)
def get_card(path: str) -> dict:
    try:
        return read_card(path)
    except CheckpointError:
        return {}


@st.cache_data(max_entries=128, show_spinner=False)
def get_trace(pixels: bytes, iterations: int, model_path: str) -> CapsuleTrace:
    """The full trace of one 28x28 input, keyed by its float32 pixel bytes and the iterations."""
    image = np.frombuffer(pixels, dtype=np.float32).reshape(28, 28).copy()
    return trace_image(get_model(model_path), image, iterations=iterations)


@st.cache_resource(show_spinner="Loading the MNIST test set…")
def get_test_set(data_dir: str) -> tuple[np.ndarray, np.ndarray] | str:
    """(images uint8 (N, 28, 28), labels (N,)), or the reason it is unavailable."""
    try:
        split = load_mnist(train=False, data_dir=data_dir, download=False)
    except DataNotFoundError as exc:
        return str(exc)
    return split.images.numpy(), split.labels.numpy()


MISTAKE_CHUNK = 500


@st.cache_resource(show_spinner=False, max_entries=64)
def _predict_chunk(model_path: str, data_dir: str, start: int) -> np.ndarray:
    """The model's predictions (fp32, trained routing iterations) for test images start..start+CHUNK."""
    images, _ = get_test_set(data_dir)
    return classify(get_model(model_path), images[start : start + MISTAKE_CHUNK].astype(np.float32) / 255.0)


def mistakes_from_card(card: dict, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The model card's list of test errors, if it has one: "test_misclassified": [{"index", "predicted"}, ...]."""
    rows = card.get("test_misclassified")
    if not isinstance(rows, list):
        return None
    try:
        pairs = sorted((int(r["index"]), int(r["predicted"])) for r in rows)
    except (KeyError, TypeError, ValueError):
        return None
    if any(not 0 <= i < n for i, _ in pairs):
        return None
    return np.array([i for i, _ in pairs], dtype=np.int64), np.array([p for _, p in pairs], dtype=np.int64)


def get_mistakes(model_path: str, data_dir: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the misclassified test images and the model's predictions for them: from the model card
    when it lists them, else one batched pass over the test set, cached per chunk for the server's life."""
    listed = mistakes_from_card(get_card(model_path), len(labels))
    if listed is not None:
        return listed
    starts = range(0, len(labels), MISTAKE_CHUNK)
    bar = st.progress(0.0, text="Finding the model's mistakes on the test set (once per server)…")
    preds = []
    for k, start in enumerate(starts):
        preds.append(_predict_chunk(model_path, data_dir, start))
        bar.progress(
            (k + 1) / len(starts),
            text=f"Finding the model's mistakes: {min(start + MISTAKE_CHUNK, len(labels)):,} "
            f"of {len(labels):,} test digits (once per server)…",
        )
    bar.empty()
    pred = np.concatenate(preds)
    wrong = np.flatnonzero(pred != labels)
    return wrong, pred[wrong]


@st.cache_data(max_entries=64, show_spinner=False)
def get_perturbation(pose_bytes: bytes, digit: int, model_path: str):
    poses = np.frombuffer(pose_bytes, dtype=np.float32).reshape(10, 16)
    grid = perturbation_grid(get_model(model_path), poses, digit, DELTAS)
    return F.perturbation_figure(grid, DELTAS, digit)


@st.cache_data(max_entries=64, show_spinner=False)
def get_sweep(pixels: bytes, kind: str, base: Transform, digit: int, iterations: int, model_path: str):
    image = np.frombuffer(pixels, dtype=np.float32).reshape(28, 28).copy()
    return sweep(get_model(model_path), image, kind, digit=digit, iterations=iterations, base=base)


@st.cache_data(max_entries=64, show_spinner=False)
def get_transformed(pixels: bytes, t: Transform, digit: int, iterations: int, model_path: str):
    image = transform_image(np.frombuffer(pixels, dtype=np.float32).reshape(28, 28).copy(), t)
    return image, run_images(get_model(model_path), image[None], digit=digit, iterations=iterations)


# --- input -----------------------------------------------------------------------------------


def read_upload(data: bytes) -> np.ndarray:
    """Uploaded file bytes -> the 28x28 model input. Raises PreprocessError (user-facing message)."""
    return to_mnist(load_upload(data)).image


def _clear_canvas() -> None:
    st.session_state["canvas_gen"] = st.session_state.get("canvas_gen", 0) + 1


def canvas_key() -> str:
    return f"canvas_{st.session_state.get('canvas_gen', 0)}"


def draw_input() -> np.ndarray | None:
    from streamlit_drawable_canvas import st_canvas  # only inside a running app

    st.markdown("**Your drawing**")
    st.html(CANVAS_TOOLBAR_FIX, unsafe_allow_javascript=True)
    canvas_slot = st.container()  # the canvas sits above the pen control that sets it
    width = st.slider("Pen width", 8, 40, 18, key="stroke_width")
    with canvas_slot:
        result = st_canvas(
            fill_color="#FFFFFF",
            stroke_width=width,
            stroke_color="#FFFFFF",
            background_color="#000000",
            drawing_mode="freedraw",
            height=CANVAS_PX,
            width=CANVAS_PX,
            update_streamlit=True,
            return_image_data=True,
            key=canvas_key(),
        )
    st.button("Clear", on_click=_clear_canvas, icon=":material/delete:")
    st.caption("Undo, redo and erase-all are on the toolbar above the canvas's top-right corner.")
    rgba = result.image_data
    if rgba is None:
        st.info(DRAW_PROMPT)
        return None
    try:
        return to_mnist(rgba).image
    except EmptyDrawingError:
        st.info(DRAW_PROMPT)
    except TooSmallError as exc:
        st.warning(str(exc))
    except PreprocessError as exc:
        st.error(str(exc))
    return None


def _pick(key: str, choices: np.ndarray) -> None:
    st.session_state[key] = int(np.random.default_rng().choice(choices))


def gallery_input(model_path: str) -> np.ndarray | None:
    data_dir = str(resolve_data_dir())
    test = get_test_set(data_dir)
    if isinstance(test, str):
        st.info(
            f"The MNIST test set is not available, so the gallery is off. Point the `{ENV_VAR}` environment "
            f"variable at a folder holding `MNIST/raw/` and restart.\n\n{test}"
        )
        return None
    images, labels = test
    mode = st.selectbox("Pick a test image", GALLERY_MODES, key="gallery_mode")
    if mode == "By class":
        c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
        digit = c1.selectbox("Digit", range(10), key="gallery_class")
        members = np.flatnonzero(labels == digit)
        c2.button(f"🎲 Another {digit}", on_click=_pick, args=("class_pick", members))
        if st.session_state.get("class_pick") not in set(members.tolist()):
            st.session_state["class_pick"] = int(members[0])
        index = st.session_state["class_pick"]
    elif mode == "Random":
        st.button("🎲 Random test digit", on_click=_pick, args=("random_pick", np.arange(len(labels))))
        index = st.session_state.setdefault("random_pick", int(np.random.default_rng().integers(len(labels))))
    elif mode == "Misclassified":
        wrong, wrong_pred = get_mistakes(model_path, data_dir, labels)
        if len(wrong) == 0:
            st.success("The model gets every test digit right.")
            return None
        names = {int(i): f"#{i}: true {labels[i]}, predicted {p}" for i, p in zip(wrong, wrong_pred, strict=True)}
        st.caption(
            f"{len(wrong)} of {len(labels):,} test digits are misclassified "
            f"({100 * (1 - len(wrong) / len(labels)):.2f} % accuracy, {get_model(model_path).cfg.routing_iterations} "
            "routing iterations)."
        )
        index = st.selectbox("Mistake", list(names), format_func=names.get, key="mistake_pick")
    else:
        index = st.number_input("Test image index", 0, len(labels) - 1, 0, step=1, key="gallery_index")
    index = int(index)
    st.markdown(f"Test image **#{index}** · true label **{labels[index]}**")
    return (images[index] / 255.0).astype(np.float32)


def upload_input() -> np.ndarray | None:
    up = st.file_uploader("Upload a picture of one digit", type=["png", "jpg", "jpeg"], key="upload")
    st.caption("Dark ink on light paper is inverted automatically; the digit is cropped and centred like MNIST.")
    if up is None:
        st.info("Upload a PNG or JPEG of a single handwritten digit.")
        return None
    try:
        return read_upload(up.getvalue())
    except PreprocessError as exc:
        st.error(str(exc))
        return None


# --- panels ----------------------------------------------------------------------------------


def sidebar(card: dict, trained_iterations: int) -> tuple[str, int]:
    with st.sidebar:
        st.markdown("### :material/bubble_chart: Inside a Capsule Network")
        source = st.radio("Input", SOURCES, key="source", horizontal=True)
        iterations = st.slider(
            "Routing iterations",
            1,
            5,
            trained_iterations,
            key="iterations",
            help=f"How many rounds of routing-by-agreement to run at inference. The model was trained with "
            f"{trained_iterations}. One iteration means uniform coupling (no routing at all).",
        )
        st.divider()
        st.markdown("#### About")
        st.caption(
            "A CapsNet (Sabour, Frosst & Hinton, *Dynamic Routing Between Capsules*, 2017) trained on MNIST. "
            "A **capsule** is a vector: its *length* is the probability that its entity is present, its "
            "*direction* (the pose) says how it looks."
        )
        if card:
            acc = card.get("test_accuracy")
            by_r = card.get("accuracy_by_routing_iterations") or {}
            rows = [
                ("Test accuracy", f"{acc:.2f} %" if isinstance(acc, (int, float)) else "–"),
                ("Test errors", f"{card.get('test_errors', '–')} of 10,000"),
                ("Epochs", str(card.get("epochs", "–"))),
                ("Routing iterations (trained)", str(card.get("routing_iterations", trained_iterations))),
                ("Parameters", f"{card['parameters']:,}" if isinstance(card.get("parameters"), int) else "–"),
            ]
            if by_r:
                rows.append(("Accuracy by iterations", ", ".join(f"{k}: {v}" for k, v in by_r.items())))
            # How well drawings are read, honestly: scripted canvas strokes, and real writers re-inked.
            for key, label in (
                ("drawn_digit_accuracy", "Scripted drawings"),
                ("redrawn_mnist_accuracy", "MNIST redrawn"),
            ):
                d = card.get(key)
                if isinstance(d, dict) and isinstance(d.get("accuracy"), (int, float)):
                    rows.append((label, f"{d['accuracy']:.2f} % of {d.get('n', '?'):,}"))
            st.markdown("\n".join(["| Model card | |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]))
        else:
            st.caption("No model card found beside the checkpoint.")
    return source, iterations


def classification(trace: CapsuleTrace, iterations: int) -> None:
    pred = trace.prediction
    length = float(trace.lengths[pred])
    st.metric(
        "Prediction",
        value=str(pred),
        delta=f"length {length:.2f}",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help="The digit capsule with the longest output vector. Its length |v| acts as a probability.",
    )
    rival = F.rival_of(trace.lengths, pred)
    if trace.lengths[rival] > 0.5:
        st.caption(f"Ambiguous: capsule {rival} is long too ({trace.lengths[rival]:.2f}).")


SPATIAL_MODES = ("vs uniform", "routed")


def routing_panel(trace: CapsuleTrace, image: np.ndarray, sig: str) -> None:
    r = trace.num_iterations
    pred = trace.prediction
    rival = F.rival_of(trace.lengths, pred)
    lengths = trace.primary_lengths  # (32, 6, 6)
    grids = [primary_grid(s.coupling) for s in trace.iterations]  # each (32, 6, 6, 10)
    st.caption(
        "Each of the 1,152 primary capsules (32 types on a 6×6 grid) predicts every digit capsule's pose. "
        "The **coupling coefficient** c_ij is the share of primary capsule i's vote that goes to digit capsule j "
        "(for each i they sum to 1 over the 10 digits). Routing starts uniform, c = 0.1, and each iteration "
        "raises c_ij where i's vote agrees with digit j's output. Colours: white = uniform, "
        "orange = more than 0.1, blue = less."
    )
    ctl, info = st.columns([1, 2], vertical_alignment="bottom")
    with ctl:
        step = st.slider("Show routing iteration", 1, r, r, key=f"routing_step_{r}") if r > 1 else 1
    c_now = trace.iterations[step - 1].coupling
    weights = lengths.transpose(1, 2, 0).reshape(-1)  # |u_i| in the flat primary order
    share = float((c_now[:, pred] * weights).sum() / max(weights.sum(), 1e-12))
    with info:
        st.caption(
            f"Iteration {step} of {r} routes with c_ij between {c_now.min():.3f} and {c_now.max():.3f}; "
            f"weighted by activation, {share:.3f} of the votes go to digit {pred} (uniform: 0.100)."
        )
    coupling = grids[step - 1]
    by_type_all = [F.coupling_by_type(g, lengths) for g in grids]
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.markdown(f"**Coupling by primary type** · iteration {step}")
        span = F.deviation_span(np.stack(by_type_all), 0.1)
        st.plotly_chart(F.coupling_type_figure(by_type_all[step - 1], pred, span=span), key="fig_types")
        st.caption(
            "Mean c_ij of each of the 32 primary capsule types, over its 36 positions weighted by their "
            "activation |u_i|. Outlined: the prediction. One colour scale for all iterations."
        )
    with right:
        st.markdown(f"**Where the votes come from** · iteration {step}")
        a, b = st.columns([3, 2], vertical_alignment="bottom")
        digits = a.multiselect(
            "Digit capsules", list(range(10)), default=[pred, rival], key=f"spatial_{sig}", max_selections=4
        )
        mode = b.segmented_control(
            "Show",
            SPATIAL_MODES,
            default=SPATIAL_MODES[0],
            key="spatial_mode",
            required=True,
            help="vs uniform: Σ (c_ij − 0.1)·|u_i|, the activation routed to the digit beyond an even split. "
            "routed: Σ c_ij·|u_i|, all the activation routed to it.",
        )
        relative = mode != "routed"
        digits = digits or [pred]
        maps = [F.coupling_spatial(g, lengths, relative=relative)[0][digits] for g in grids]
        span = F.deviation_span(np.stack(maps)) if relative else float(np.max(maps)) or 1.0
        spatial, dominant = F.coupling_spatial(coupling, lengths, relative=relative)
        fig = F.coupling_spatial_figure(image, spatial, dominant, digits, trace.lengths, pred, relative, span)
        st.plotly_chart(fig, key="fig_spatial")
        st.caption(
            "At each of the 6×6 primary positions (each sees a 17×17 patch of the input), the activation "
            "routed to the digit capsule, summed over the 32 types: "
            + (
                "beyond the uniform share (orange: pulled towards it, blue: pushed away)."
                if relative
                else "Σ c_ij·|u_i|."
            )
        )
        entropy = [F.coupling_entropy(s.coupling, weights) for s in trace.iterations]
        conv = F.convergence_figure(np.stack([s.lengths for s in trace.iterations]), np.array(entropy), pred, step)
        st.plotly_chart(conv, key="fig_convergence")
        drop = entropy[0] - entropy[-1]
        note = (
            f" Here routing lowers it by only {drop:.3f} bits: the couplings stay close to uniform, and the "
            "prediction rests mostly on the votes themselves."
            if r > 1 and drop < 0.05
            else (f" Here routing lowers it by {drop:.3f} bits." if r > 1 else "")
        )
        st.caption(
            "Left: capsule lengths after each iteration. Right: mean entropy of each primary capsule's "
            "coupling distribution, weighted by its activation |u_i|; log2(10) ≈ 3.32 bits is uniform." + note
        )
    exp = st.expander("All 1,152 × 10 coupling coefficients", key="matrix_open", on_change="rerun")
    with exp:
        if exp.open:
            span = max(F.deviation_span(s.coupling, 0.1) for s in trace.iterations)
            st.plotly_chart(F.coupling_matrix_figure(coupling, lengths, pred, span=span), key="fig_matrix")
            st.caption(
                f"Iteration {step}. Rows are primary capsules sorted by activation |u_i| (grey strip), "
                "most active first; hover to see each capsule's type, row and column."
            )


def _reset_pose() -> None:
    st.session_state["pose_reset"] = st.session_state.get("pose_reset", 0) + 1


@st.fragment
def pose_panel(trace: CapsuleTrace, sig: str, model_path: str) -> None:
    """Only this function reruns when a pose slider moves: one decoder pass, no routing."""
    model = get_model(model_path)
    pred = trace.prediction
    controls, images = st.columns([3, 2], gap="large")
    with controls:
        digit = st.segmented_control(
            "Decode digit capsule",
            list(range(10)),
            default=pred,
            key=f"decode_{sig}",
            required=True,
            help="Decode any capsule's pose, e.g. read your 3 as an 8.",
        )
        digit = pred if digit is None else int(digit)
        actual = trace.poses[digit].astype(np.float64)
        start = np.round(actual, 2)
        gen = st.session_state.get("pose_reset", 0)
        values = np.empty(16)
        cols = st.columns(4)
        for d in range(16):
            with cols[d % 4]:
                values[d] = st.slider(
                    f"Dimension {d + 1}",
                    float(round(start[d] - POSE_SPAN, 2)),
                    float(round(start[d] + POSE_SPAN, 2)),
                    float(start[d]),
                    step=0.01,
                    format="%.2f",
                    key=f"pose_{sig}_{digit}_{gen}_{d}",
                )
        st.button("Reset pose", on_click=_reset_pose, icon=":material/restart_alt:")
    poses = trace.poses.astype(np.float32).copy()
    poses[digit] = (actual + (values - start)).astype(np.float32)
    recon = reconstruct(model, poses, digit)
    with images:
        a, b = st.columns(2, gap="small")
        a.image(F.to_uint8(trace.image, 6), output_format="PNG", caption="Input", width="stretch")
        b.image(F.to_uint8(recon, 6), output_format="PNG", caption="Reconstruction", width="stretch")
        edited = float(np.linalg.norm(poses[digit]))
        st.caption(
            f"Decoding capsule **{digit}**{' (the prediction)' if digit == pred else ''}; "
            f"its length is {float(trace.lengths[digit]):.2f} (edited pose: {edited:.2f})."
        )
        st.caption(
            "A capsule's 16 numbers are its **pose**: the decoder redraws the digit from them alone "
            "(the other nine capsules are masked), so each dimension controls some aspect of the "
            "drawing: stroke thickness, width, slant, a local part."
        )
    exp = st.expander("Figure 4 of the paper: each dimension from −0.25 to +0.25", key="fig4_open", on_change="rerun")
    with exp:
        if exp.open:
            st.plotly_chart(get_perturbation(poses.tobytes(), digit, model_path), key="fig_perturbation")
            st.caption(
                "Each row changes one dimension of the pose above by the offset on top, all others fixed; "
                "the outlined column is the pose itself."
            )


def _reset_transform() -> None:
    for k, v in (("eq_angle", 0), ("eq_scale", 1.0), ("eq_shift_x", 0.0), ("eq_shift_y", 0.0)):
        st.session_state[k] = v


@st.fragment
def equivariance_panel(image: np.ndarray, pred: int, iterations: int, model_path: str) -> None:
    """Sliders move one transformed copy; the sweep runs 13-19 copies in one batch. The sliders step on the
    sweep's grid, so the current copy is one of the sweep's and moving the swept slider runs no model at all."""
    st.caption(
        "Beyond the paper. Capsules are meant to be **equivariant**: transform the digit and the pose "
        f"of capsule {pred} should change smoothly with it, while its length (the evidence for {pred}) stays put."
    )
    controls, view, chart = st.columns([1.1, 1.1, 2.6], gap="medium")
    with controls:
        angle = st.slider("Rotate (°)", -45, 45, 0, step=5, key="eq_angle")
        scale = st.slider("Scale", 0.7, 1.3, 1.0, step=0.05, format="%.2f", key="eq_scale")
        sx = st.slider("Shift x (px)", -4.0, 4.0, 0.0, step=0.5, key="eq_shift_x")
        sy = st.slider("Shift y (px)", -4.0, 4.0, 0.0, step=0.5, key="eq_shift_y")
        st.button("Reset transform", on_click=_reset_transform, icon=":material/restart_alt:")
    t = Transform(angle=float(angle), scale=round(float(scale), 4), shift_x=float(sx), shift_y=float(sy))
    pixels = image.astype(np.float32).tobytes()
    with chart:
        kind = (
            st.segmented_control(
                "Sweep",
                list(TRANSFORM_NAMES),
                format_func=TRANSFORM_NAMES.get,
                default="angle",
                key="eq_kind",
                required=True,
            )
            or "angle"
        )
    # The swept parameter's own value does not change the sweep: key the cache without it.
    sw = get_sweep(pixels, kind, t.with_value(kind, getattr(Transform(), kind)), pred, iterations, model_path)
    current = getattr(t, kind)
    hit = np.flatnonzero(np.isclose(sw.values, current, atol=1e-6))
    if hit.size:
        i = int(hit[0])
        moved, lengths, new_pred, recon = sw.images[i], sw.lengths[i], int(sw.predictions[i]), sw.reconstructions[i]
    else:
        moved, res = get_transformed(pixels, t, pred, iterations, model_path)
        lengths, new_pred, recon = res.lengths[0], int(res.predictions[0]), res.reconstructions[0]
    with view:
        st.metric(
            "After transform",
            str(new_pred),
            delta=f"length of {pred}: {lengths[pred]:.2f}",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        a, b = st.columns(2)
        a.image(F.to_uint8(moved, 4), output_format="PNG", caption="Transformed", width="stretch")
        b.image(F.to_uint8(recon, 4), output_format="PNG", caption=f"Decoded from {pred}", width="stretch")
    with chart:
        st.plotly_chart(
            F.sweep_figure(sw.values, sw.poses, sw.lengths, sw.predictions, pred, current, LABELS[kind]),
            key="fig_sweep",
        )
        lo, hi = LIMITS[kind]
        st.caption(
            f"{len(sw.values)} copies of the input, {TRANSFORM_NAMES[kind].lower()} from {lo:g} to {hi:g} "
            "(the other sliders held), run as one batch. Numbers above the lengths: the predicted digit."
        )


# --- page ------------------------------------------------------------------------------------


def main() -> None:
    model_path = checkpoint_path()
    try:
        model = get_model(model_path)
    except CheckpointError as exc:
        st.title("Inside a Capsule Network")
        st.error(str(exc))
        st.stop()
    card = get_card(model_path)
    trained = int(card.get("routing_iterations") or model.cfg.routing_iterations)
    source, iterations = sidebar(card, max(1, min(5, trained)))

    st.markdown("## Inside a Capsule Network")
    st.caption(
        "Draw a digit and follow it through the network: primary capsules vote, routing by agreement "
        "decides whose votes count, and the winning capsule's 16 numbers redraw your digit."
    )
    # Fixed widths for the input and the 28x28 view: the 280 px canvas must never be clipped by a narrow
    # column (strokes on a hidden part would be lost). The lengths chart takes the rest, or wraps below.
    row = st.container(horizontal=True, gap="medium")
    with row:
        col_in = st.container(width=INPUT_COLUMN_PX)
        col_seen = st.container(width=IMAGE_PX + 24)
        col_lengths = st.container(width="stretch")
    with col_in:
        if source == "MNIST test set":
            image = gallery_input(model_path)
        elif source == "Upload":
            image = upload_input()
        else:
            image = draw_input()
    if image is None:
        with col_seen:
            st.markdown("**What the model sees**")
            st.image(np.zeros((IMAGE_PX, IMAGE_PX), np.uint8), output_format="PNG", caption="28 × 28 input (empty)")
        return
    image = np.ascontiguousarray(image, dtype=np.float32)
    pixels = image.tobytes()
    trace = get_trace(pixels, iterations, model_path)
    sig = f"{hashlib.md5(pixels).hexdigest()[:12]}_{iterations}"
    with col_seen:
        st.markdown("**What the model sees**")
        st.image(
            F.to_uint8(trace.image, 6), output_format="PNG", caption="28 × 28 input, centred like MNIST", width=IMAGE_PX
        )
        classification(trace, iterations)
    with col_lengths:
        st.markdown("**Digit capsule lengths**")
        st.plotly_chart(F.lengths_figure(trace.lengths, trace.prediction), key="fig_lengths")
        st.caption(
            "One capsule per digit. Training pushes the right capsule's length above m+ = 0.9 and "
            "the others below m− = 0.1."
        )

    tabs = st.tabs([POSE_TAB, ROUTING_TAB, EQUIVARIANCE_TAB], key="tab", on_change="rerun")
    pose_tab, routing_tab, eq_tab = tabs
    with pose_tab:
        if pose_tab.open is not False:
            pose_panel(trace, sig, model_path)
    with routing_tab:
        if routing_tab.open:
            routing_panel(trace, image, sig)
    with eq_tab:
        if eq_tab.open:
            equivariance_panel(image, trace.prediction, iterations, model_path)


main()
