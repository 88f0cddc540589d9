"""The page's longer words: captions, help strings and prompts, kept apart from the layout code."""

from __future__ import annotations

from capsviz.inspect.trace import FIGURE4_DELTAS
from capsviz.model.capsnet import NUM_CLASSES
from capsviz.model.losses import M_MINUS, M_PLUS
from capsviz.model.routing import uniform_coupling

TITLE = "Inside a Capsule Network"
SUBTITLE = (
    "Draw a digit and follow it through the network: primary capsules vote, routing by agreement "
    "decides whose votes count, and the winning capsule's 16 numbers redraw your digit."
)
DRAW_PROMPT = "✏️ **Draw a digit** (0–9) in the black box: the prediction updates after every stroke."
UPLOAD_LABEL = "Upload a picture of one digit"
UPLOAD_HINT = "Dark ink on light paper is inverted automatically; the digit is cropped and centred like MNIST."
UPLOAD_PROMPT = "Upload a PNG or JPEG of a single handwritten digit."

ABOUT = (
    "A CapsNet (Sabour, Frosst & Hinton, *Dynamic Routing Between Capsules*, 2017) trained on MNIST. "
    "A **capsule** is a vector: its *length* is the probability that its entity is present, its "
    "*direction* (the pose) says how it looks."
)
NO_CARD = "No model card found beside the checkpoint."
PREDICTION_HELP = "The digit capsule with the longest output vector. Its length |v| acts as a probability."
LENGTHS_CAPTION = (
    f"One capsule per digit. Training pushes the right capsule's length above m+ = {M_PLUS} and "
    f"the others below m− = {M_MINUS}."
)


def card_not_shown(problem: str) -> str:
    return (
        "The model card beside the checkpoint does not match its weights or cannot be read "
        f"({problem}); it is not shown."
    )


def iterations_help(trained: int) -> str:
    return (
        "How many rounds of routing-by-agreement to run at inference. The model was trained with "
        f"{trained}. One iteration means uniform coupling (no routing at all)."
    )


def gallery_unavailable(env_var: str, reason: str) -> str:
    return (
        f"The MNIST test set is not available, so the gallery is off. Point the `{env_var}` environment "
        f"variable at a folder holding `MNIST/raw/` and restart.\n\n{reason}"
    )


# --- pose ---------------------------------------------------------------------------------------------
DECODE_HELP = "Decode any capsule's pose, e.g. read your 3 as an 8."
POSE_EXPLAINED = (
    "A capsule's 16 numbers are its **pose**: the decoder redraws the digit from them alone "
    "(the other nine capsules are masked), so each dimension controls some aspect of the "
    "drawing: stroke thickness, width, slant, a local part."
)
FIG4_TITLE = f"Figure 4 of the paper: each dimension from {FIGURE4_DELTAS[0]:+.2f} to {FIGURE4_DELTAS[-1]:+.2f}"
ATLAS_TITLE = "What each dimension does, measured over the MNIST test digits (the pose atlas)"
ATLAS_CAPTION = (
    "Each dimension of this class's capsule at its 1st percentile, median and 99th percentile over the class's "
    "MNIST test digits, the others held; named by its largest, consistent effect on the reconstruction, or "
    '"mixed" when none dominates (python -m capsviz.pose_atlas).'
)
NO_ATLAS = "No pose atlas beside this checkpoint: make one with python -m capsviz.pose_atlas --checkpoint DIR."
FIG4_CAPTION = (
    "Each row changes one dimension of the pose above by the offset on top, all others fixed; "
    "the outlined column is the pose itself."
)

# --- routing ------------------------------------------------------------------------------------------
_UNIFORM = uniform_coupling(NUM_CLASSES)


def routing_intro(types: int = 32, grid: int = 6) -> str:
    return (
        f"Each of the {types * grid * grid:,} primary capsules ({types} types on a {grid}×{grid} grid) predicts "
        "every digit capsule's pose. The **coupling coefficient** c_ij is the share of primary capsule i's vote "
        f"that goes to digit capsule j (for each i they sum to 1 over the 10 digits). Routing starts uniform, "
        f"c = {_UNIFORM:g}, and each iteration raises c_ij where i's vote agrees with digit j's output. Colours: "
        f"near the page's colour = uniform, orange = more than {_UNIFORM:g}, blue = less."
    )


def playback_caption(types: int = 32, grid: int = 6) -> str:
    return (
        "**▶ Play** runs the iterations in order, about two a second; the slider steps through them by hand. "
        f"Left: the mean c_ij of each of the {types} primary capsule types, over its {grid * grid} positions "
        "weighted by their activation |u_i|; outlined: the prediction; one colour scale for all iterations. Right: "
        f"at each of the {grid}×{grid} primary positions (each sees a 17×17 patch of the input), the activation "
        "routed to the digit capsule, summed over the types: "
    )


ROUTING_INTRO = routing_intro()
PLAYBACK_CAPTION = playback_caption()
SPATIAL_HELP = (
    f"vs uniform: Σ (c_ij − {_UNIFORM:g})·|u_i|, the activation routed to the digit beyond an even split. "
    "routed: Σ c_ij·|u_i|, all the activation routed to it."
)
SPATIAL_RELATIVE = "beyond the uniform share (orange: pulled towards it, blue: pushed away)."
SPATIAL_ROUTED = "Σ c_ij·|u_i|."
CONVERGENCE_CAPTION = (
    "Left: capsule lengths after each iteration. Right: mean entropy of each primary capsule's "
    "coupling distribution, weighted by its activation |u_i|; log2(10) ≈ 3.32 bits is uniform."
)


def matrix_title(n_primary: int = 1152) -> str:
    return f"All {n_primary:,} × 10 coupling coefficients"


MATRIX_TITLE = matrix_title()


def routing_step_summary(step: int, r: int, lo: float, hi: float, share: float, pred: int) -> str:
    return (
        f"Iteration {step} of {r} routes with c_ij between {lo:.3f} and {hi:.3f}; "
        f"weighted by activation, {share:.3f} of the votes go to digit {pred} (uniform: {_UNIFORM:.3f})."
    )


def entropy_note(r: int, drop: float) -> str:
    if r <= 1:
        return ""
    if drop < 0.05:
        return (
            f" Here routing lowers it by only {drop:.3f} bits: the couplings stay close to uniform, and the "
            "prediction rests mostly on the votes themselves."
        )
    return f" Here routing lowers it by {drop:.3f} bits."


MATRIX_CAPTION = (
    "Rows are primary capsules sorted by activation |u_i| (grey strip), most active first; hover to see each "
    "capsule's type, row and column. The slider and Play step through the iterations."
)


# --- equivariance -----------------------------------------------------------------------------------------
TRANSFORM_NAMES = {"angle": "Rotate", "scale": "Scale", "shift_x": "Shift x", "shift_y": "Shift y"}
SLIDER_LABELS = {"angle": "Rotate (°)", "scale": "Scale", "shift_x": "Shift x (px)", "shift_y": "Shift y (px)"}


def equivariance_intro(pred: int) -> str:
    return (
        "Beyond the paper. Capsules are meant to be **equivariant**: transform the digit and the pose "
        f"of capsule {pred} should change smoothly with it, while its length (the evidence for {pred}) stays put."
    )


def sweep_caption(n: int, kind: str, lo: float, hi: float) -> str:
    return (
        f"{n} copies of the input, {TRANSFORM_NAMES[kind].lower()} from {lo:g} to {hi:g} "
        "(the other sliders held), run as one batch. Numbers above the lengths: the predicted digit."
    )
