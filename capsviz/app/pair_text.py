"""The two-digit mode's words: captions, help strings and prompts (capsviz.app.text holds the shared ones)."""

from __future__ import annotations

from capsviz.model.capsnet import NUM_CLASSES
from capsviz.model.routing import uniform_coupling

_UNIFORM = uniform_coupling(NUM_CLASSES)

MODEL_HELP = (
    "One digit: the CapsNet trained on MNIST (28×28). Two overlapping digits: the same network fine-tuned on "
    "MultiMNIST (36×36, two digits of different classes on top of each other), as in section 6 of the paper."
)
PAIR_SUBTITLE = (
    "Two digits drawn over each other: the two longest digit capsules name them, each redraws its own digit, "
    "and routing by agreement sorts the strokes between them."
)
PAIR_DRAW_PROMPT = (
    "✏️ **Draw two different digits over each other**: one with the first pen, then switch pens and draw the "
    "other across it. The model sees both inks as one."
)
PAIR_INK_HELP = (
    "Which digit your next strokes belong to. The model sees all ink alike; the colours only tell the app "
    "which strokes are which digit (each is fitted like a training pair's digit, and the routing panel "
    "follows each ink)."
)
PAIR_INK_NAMES = ("amber ink (first digit)", "blue ink (second digit)")
PAIR_INK_LABELS = (":orange[●] First digit", ":blue[●] Second digit")  # markdown colours near the pens' colours
PAIR_ONE_INK = "Only one pen used: the drawing is read as it is, but the routing panel cannot tell the digits apart."
PAIR_UPLOAD_LABEL = "Upload a picture of two overlapping digits"
PAIR_UPLOAD_HINT = "It is fitted into the 36×36 frame as a whole; dark ink on light paper is inverted."
PAIR_UPLOAD_PROMPT = "Upload a PNG or JPEG of two handwritten digits written over each other."
PAIR_SOURCE_NAMES = {"MNIST test set": "MultiMNIST test pairs"}
PAIR_PREDICTION_HELP = (
    "The two longest digit capsules, longest first; each length acts as the probability that its digit is there."
)
SEEN_PAIR_CAPTION = "36 × 36 input, fitted like a MultiMNIST pair"
FIGURE5_CAPTION = (
    "The paper's Figure 5: each of the two longest capsules decoded on its own (all other capsules masked), "
    "red for the longest, green for the second, over the input in grey."
)
STROKE_SHARES_TITLE = "Which ink routes to which digit"
STROKE_SHARES_CAPTION = (
    "Each primary capsule's activation |u_i| is split between the two inks by how much of each lies in its "
    "17×17 field; each panel shows the share of one ink's activation that each predicted capsule claims "
    f"(Σ c_ij·|u_i| over the ink's capsules), iteration by iteration. Uniform routing gives each {_UNIFORM:.0%}: "
    "routing that does its work sends each ink to its own digit."
)
NO_STROKES = "An upload is one ink: there are no strokes to tell apart. Draw in two colours, or pick a test pair."
ACCURACY_BY_ITERATIONS_TITLE = "Accuracy by routing iterations (model card)"
ACCURACY_BY_ITERATIONS_CAPTION = (
    "Pairs of the MultiMNIST test set with both digits right (the two longest capsules are the two labels), at "
    "each number of routing iterations at inference; highlighted: the number in use."
)
NO_ACCURACY_BY_ITERATIONS = "The two-digit model's card lists no accuracy by routing iterations."


def pair_missing(reason: str, env_var: str) -> str:
    return (
        f"The two-digit model is not available, so this mode is off: {reason}\n\nPoint the `{env_var}` "
        "environment variable at a MultiMNIST checkpoint (a folder holding `capsnet.safetensors`) and restart, "
        "or switch back to **One digit** in the sidebar."
    )


def not_a_pair_model(size: int) -> str:
    return f"That checkpoint takes {size}×{size} images; the two-digit mode needs a 36×36 MultiMNIST model."


def pair_labels(index: int, labels: tuple[int, int]) -> str:
    return f"Test pair **#{index}** · labels **{labels[0]}** and **{labels[1]}**"


def pair_prediction(digits: tuple[int, int]) -> str:
    return f"{digits[0]} and {digits[1]}"


def pair_lengths(lengths: tuple[float, float]) -> str:
    return f"lengths {lengths[0]:.2f} and {lengths[1]:.2f}"


def pair_gallery_caption(labels: tuple[int, int]) -> str:
    return f"{labels[0]} in amber, {labels[1]} in blue: each digit's own image, as the pair was made"


def pair_digit_names(labels: tuple[int, int]) -> tuple[str, str]:
    return f"digit {labels[0]}'s ink (amber)", f"digit {labels[1]}'s ink (blue)"


def stroke_share_summary(names: tuple[str, str], digits: tuple[int, int], last) -> str:
    """last: (2 inks, 2 capsules) shares after the final iteration."""
    parts = [
        f"of the {name}, capsule {digits[0]} claims {last[k][0]:.2%} and capsule {digits[1]} {last[k][1]:.2%}"
        for k, name in enumerate(names)
    ]
    return "After the last iteration, " + "; ".join(parts) + "."
