"""capsviz.inspect.pose_atlas, pose_effects and pose_sliders: the statistics, the naming rules, the shipped
checkpoints/pose_atlas.json (schema, card, reproducibility) and the names' agreement with the measurement on digits
the naming did not use."""

from __future__ import annotations

import json

import numpy as np
import pytest

from capsviz.figures.atlas import atlas_figure, atlas_page
from capsviz.inspect import pose_atlas as pa
from capsviz.inspect import pose_effects as pe
from capsviz.inspect import pose_sliders as ps
from capsviz.training.checkpoint import DEFAULT_DIR, load_model, read_card, weights_path

ALLOWED_WORDS = {
    "mixed", "little", "effect", "stroke", "thickness", "width", "height", "slant", "moves", "left", "right",
    "up", "down", "top", "bottom", "part", "end", "(top)", "(bottom)", "(left)", "(right)", "(loop)",
}  # fmt: skip


@pytest.fixture(scope="module")
def shipped() -> pa.PoseAtlas:
    atlas = pa.load_atlas(DEFAULT_DIR)
    assert atlas is not None, f"no readable {pa.ATLAS_FILE} beside the shipped checkpoint"
    return atlas


def _bar(top=6, bottom=22, left=12, right=16, shear=0.0, shift=(0, 0)) -> np.ndarray:
    """A 28x28 bar, optionally sheared (x moves right by ``shear`` px per px upwards) and shifted."""
    img = np.zeros((28, 28))
    for r in range(top, bottom):
        dx = int(round(shear * (14 - r)))
        img[r + shift[0], left + dx + shift[1] : right + dx + shift[1]] = 1.0
    return img


# --- the statistics ----------------------------------------------------------------------------------


def test_the_statistics_measure_what_they_are_named_after():
    base = pe.image_stats(_bar()[None])[0]
    col = {s: pe.STATS.index(s) for s in pe.STATS}
    thick = pe.image_stats(_bar(left=11, right=17)[None])[0]
    assert thick[col["thickness"]] - base[col["thickness"]] == pytest.approx(2.0, abs=0.5)  # 4 -> 6 px
    tall = pe.image_stats(_bar(top=2, bottom=26)[None])[0]
    assert tall[col["height"]] - base[col["height"]] == pytest.approx(8.0, abs=0.5)  # sqrt(12) sigma: the extent
    assert tall[col["width"]] == pytest.approx(base[col["width"]], abs=0.1)
    lean = pe.image_stats(_bar(shear=0.3)[None])[0]
    assert lean[col["slant"]] == pytest.approx(np.degrees(np.arctan(0.3)), abs=2.0)  # leans right: positive
    assert lean[col["width"]] == pytest.approx(base[col["width"]], abs=0.3)  # the slant is taken out of width
    moved = pe.image_stats(_bar(shift=(2, -3))[None])[0]
    assert (moved[col["x"]] - base[col["x"]], moved[col["y"]] - base[col["y"]]) == pytest.approx((-3, 2))


def test_displacement_puts_every_change_in_pixels_of_ink_movement():
    before = pe.image_stats(_bar()[None])
    d = dict(zip(pe.CANDIDATES, pe.displacement(before, pe.image_stats(_bar(shift=(0, 2))[None]))[0], strict=True))
    assert d["x"] == pytest.approx(2.0) and max(abs(v) for k, v in d.items() if k != "x") < 0.05
    d = dict(zip(pe.CANDIDATES, pe.displacement(before, pe.image_stats(_bar(left=11, right=17)[None]))[0], strict=True))
    assert d["thickness"] == pytest.approx(1.0, abs=0.25)  # each edge moves a pixel


def test_change_regions_find_where_the_change_is():
    base = _bar()[None]
    top_changed = base.copy()
    top_changed[0, 6:10, 12:16] = 0.0
    where = dict(zip(pe.REGIONS, pe.change_regions(base, base, top_changed)[0], strict=True))
    assert where["top"] == pytest.approx(1.0) and where["bottom"] == pytest.approx(0.0, abs=1e-6)
    ring = np.zeros((1, 28, 28))
    ring[0, 8:20, 8:20] = 1.0
    ring[0, 11:17, 11:17] = 0.0
    filled = ring.copy()
    filled[0, 11:17, 11:17] = 1.0
    assert dict(zip(pe.REGIONS, pe.change_regions(ring, ring, filled)[0], strict=True))["loop"] == pytest.approx(1.0)


# --- naming ---------------------------------------------------------------------------------------------


def _measurement(shifts_per_digit: np.ndarray, changes: dict[str, float] | None = None) -> pe.Measurement:
    n = len(shifts_per_digit)
    ch = np.zeros((1, n, len(pe.STATS)))
    for k, v in (changes or {}).items():
        ch[0, :, pe.STATS.index(k)] = v
    where = np.tile([0.5, 0.5, 0.5, 0.5, 0.0], (1, n, 1))
    return pe.Measurement(shifts_per_digit[None], ch, where)


def _shifts(**medians: float) -> np.ndarray:
    """20 digits whose displacements scatter a little around the given medians."""
    rng = np.random.default_rng(0)
    base = np.array([medians.get(k, 0.0) for k in pe.CANDIDATES])
    return base + rng.normal(0, 0.1, size=(20, len(pe.CANDIDATES)))


def test_a_dominant_consistent_effect_names_the_dimension():
    e = pe.name_dimension(_measurement(_shifts(slant=2.0, x=0.6), {"slant": 12.0}), 0)
    assert (e.name, e.named, e.effect, e.sign) == ("slant", True, "slant", 1)
    assert e.change == pytest.approx(12.0) and e.consistency == 1.0 and e.dominance > 3


def test_no_dominant_effect_is_mixed_and_a_small_one_is_little_effect():
    assert pe.name_dimension(_measurement(_shifts(width=1.5, height=-1.4)), 0).name == pe.MIXED
    weak = pe.name_dimension(_measurement(_shifts(width=0.2)), 0)
    assert (weak.name, weak.named, weak.effect) == (pe.WEAK, False, None)


def test_a_centroid_shift_that_one_end_explains_is_named_by_that_end():
    # The bottom edge moves up 2 px, the top stays: the centroid rises 1 px and the height falls 2.
    m = _measurement(_shifts(y=-1.0, height=-0.5), {"y": -1.0, "height": -2.0})
    assert pe.name_dimension(m, 0).name == "bottom end moves up"
    assert pe.name_dimension(_measurement(_shifts(x=-1.0), {"x": -1.0}), 0).name == "moves left"


# --- the shipped atlas ------------------------------------------------------------------------------------


def test_the_shipped_atlas_has_its_schema_and_the_card_records_it(shipped):
    data = json.loads(pa.atlas_path(DEFAULT_DIR).read_text())
    assert data["version"] == pa.VERSION and data["method"] == pa.method()
    assert data["checkpoint_sha256"] == pa.file_sha256(weights_path(DEFAULT_DIR))
    assert sorted(shipped.classes) == list(range(10))
    for entry in shipped.classes.values():
        assert len(entry.dims) == 16 and entry.reference_pose.shape == (16,) and entry.n > 800
        for d in entry.dims:
            assert d.p1 <= d.p50 <= d.p99
            assert set(d.effect.name.split()) <= ALLOWED_WORDS
            assert d.effect.named == (d.effect.effect is not None) == (d.effect.name not in (pe.MIXED, pe.WEAK))
            assert set(d.effect.where) == set(pe.REGIONS) and set(d.effect.shifts) == set(pe.CANDIDATES)
    card = read_card(DEFAULT_DIR)[pa.CARD_KEY]
    assert card == {
        "file": pa.ATLAS_FILE,
        "sha256": pa.file_sha256(pa.atlas_path(DEFAULT_DIR)),
        "named": shipped.named,
        "of": 160,
    }
    assert data["named"] == shipped.named > 0


def test_the_atlas_survives_a_json_round_trip(shipped):
    assert pa.to_json(pa.from_json(pa.to_json(shipped))) == pa.to_json(shipped)


def test_slider_specs_carry_the_names_and_span_the_observed_range(shipped):
    digit = pa.most_interpretable(shipped)
    entry = shipped.classes[digit]
    pose = np.array([d.p50 for d in entry.dims])
    pose[0] = entry.dims[0].p99 + 1.0  # far outside what the test set shows
    specs = ps.slider_specs(shipped, digit, pose)
    assert len(specs) == 16
    for k, (s, d) in enumerate(zip(specs, entry.dims, strict=True)):
        assert set(s) == {"label", "min", "max", "value", "median", "help"}
        assert s["label"] == f"{k + 1} · {d.effect.name}"
        assert s["min"] <= min(d.p1, s["value"] - ps.SLIDER_MARGIN) + 1e-9
        assert s["max"] >= max(d.p99, s["value"] + ps.SLIDER_MARGIN) - 1e-9
        assert s["median"] == d.p50 and s["help"].startswith("From ")
    assert specs[0]["max"] >= pose[0] + ps.SLIDER_MARGIN - 1e-9
    plain = ps.slider_specs(None, digit, pose)
    assert plain[3]["label"] == "Dimension 4" and plain[3]["median"] is None


def test_the_atlas_figure_shows_each_dimension_at_three_percentiles():
    grid = np.random.default_rng(0).random((16, 3, 28, 28))
    page = atlas_page(grid)
    assert page.dtype == np.uint8 and page.shape[2] == 3
    fig = atlas_figure(grid, [f"{k + 1} · slant" for k in range(16)], 7)
    assert [a.text for a in fig.layout.annotations][:2] == ["<b>1 · slant</b>", "<b>2 · slant</b>"]


# --- re-derived from the checkpoint ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def test_arrays(mnist_test):
    return mnist_test.images.numpy(), mnist_test.labels.numpy()


@pytest.mark.slow
@pytest.mark.parametrize("digit", [1, 7])
def test_the_atlas_is_reproduced_from_the_checkpoint(shipped, model, test_arrays, digit):
    again = pa.build_atlas(model, *test_arrays, shipped.checkpoint_sha256, classes=[digit])
    ours, theirs = pa.to_json(again)["classes"][str(digit)], pa.to_json(shipped)["classes"][str(digit)]
    assert [d["name"] for d in ours["dims"]] == [d["name"] for d in theirs["dims"]]
    assert ours["reference"]["index"] == theirs["reference"]["index"]
    for a, b in zip(ours["dims"], theirs["dims"], strict=True):
        for key in ("p1", "p50", "p99", "shift_px", "consistency"):
            assert a[key] == pytest.approx(b[key], abs=2e-3), (digit, a["dim"], key)


@pytest.mark.slow
def test_the_names_hold_on_held_out_digits(shipped, model, test_arrays):
    """For every named dimension, on the test digits the naming did not use: moving it across its observed
    range changes the named statistic more than any other, in the same direction."""
    failures = []
    for digit, entry in shipped.classes.items():
        held = pa.heldout_measurement(model, entry, *test_arrays)
        for d in entry.dims:
            if not d.effect.named:
                continue
            k, _, _, med = pe.dominant(held.shifts[d.dim])
            if pe.CANDIDATES[k] != d.effect.effect or np.sign(med[k]) != d.effect.sign:
                failures.append((digit, d.label, dict(zip(pe.CANDIDATES, med.round(2).tolist(), strict=True))))
    assert not failures
