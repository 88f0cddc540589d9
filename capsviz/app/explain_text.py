"""The words of the "which ink" view (attribution): labels, captions and help."""

from __future__ import annotations

from capsviz.inspect.attribution import N_STEPS, TOP_FRACTION

CAPSULE_PICKER = "Explain digit capsule"
CONTRAST_TOGGLE = "Contrast with another capsule"
VERSUS_PICKER = "Rather than"

INTRO = (
    "How much each pixel of the 28 × 28 input adds to (orange) or takes from (blue) a digit capsule's length: "
    f"Integrated Gradients (Captum) from a black image, {N_STEPS} steps, with gradients through every routing "
    "iteration. The map sums to the capsule's length minus its length on a black image."
)
CONTRAST_HELP = (
    "The attribution of length(capsule) − length(other): the ink that makes it one digit rather than the other."
)
ROUTING_CAPTION = (
    f"Left: the primary-capsule grid cells (each sees a 17 × 17 patch) above the {TOP_FRACTION:.0%} of the ink with "
    "the most attribution, weighted by how many paths join each pixel to the cell. Right: where those cells' "
    "primary capsules send their votes at the last routing iteration, in percentage points above or below uniform "
    "routing (bars), against all primary capsules (marks)."
)
