"""Reading a model card and rendering it: the app's summary rows, the README's results table and the
Hugging Face style ``checkpoints/README.md``. Every rendering starts from ``model_card.json``, so no
number is ever copied by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from capsviz.data.augment import DESCRIPTIONS

START = "<!-- results:start -->"
END = "<!-- results:end -->"
CHECKPOINT_README = "README.md"

# Published figures, for comparison (Sabour et al. 2017, Table 1; XifengGuo/CapsNet-Pytorch README).
PAPER = {"error": "0.25 ± 0.005", "routing": 3, "epochs": "not stated", "time": "not stated"}
TUTORIAL = {"error": "0.34 ± 0.029 (3 runs)", "routing": 3, "epochs": 50, "time": "≈ 61 min (73 s/epoch, GTX 1070 GPU)"}


# --- reading ---------------------------------------------------------------------------------------------


def listed_mistakes(card: dict[str, Any], n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The card's test errors as (indices, predictions), sorted by index; None when the card lists none
    or its list does not fit a test set of ``n`` images."""
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


def _number(value: Any, fmt: str, suffix: str = "") -> str:
    return f"{value:{fmt}}{suffix}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def summary_rows(card: dict[str, Any], trained_iterations: int) -> list[tuple[str, str]]:
    """(label, value) pairs the app's sidebar shows; a missing or odd field shows as a dash."""
    rows = [
        ("Test accuracy", _number(card.get("test_accuracy"), ".2f", " %")),
        ("Test errors", f"{card.get('test_errors', '–')} of {card.get('data', {}).get('test_images', 10_000):,}"),
        ("Epochs", str(card.get("epochs", "–"))),
        ("Routing iterations (trained)", str(card.get("routing_iterations", trained_iterations))),
        ("Parameters", _number(card.get("parameters"), ",")),
    ]
    by_r = card.get("accuracy_by_routing_iterations") or {}
    if isinstance(by_r, dict) and by_r:
        rows.append(("Accuracy by iterations", ", ".join(f"{k}: {v}" for k, v in by_r.items())))
    # How well drawings are read, honestly: scripted canvas strokes, and real writers re-inked.
    for key, label in (("drawn_digit_accuracy", "Scripted drawings"), ("redrawn_mnist_accuracy", "MNIST redrawn")):
        d = card.get(key)
        if isinstance(d, dict) and isinstance(d.get("accuracy"), (int, float)):
            rows.append((label, f"{d['accuracy']:.2f} % of {_number(d.get('n'), ',')}"))
    return rows


# --- the README's results table --------------------------------------------------------------------------


def _hardware(card: dict) -> str:
    hw = card.get("training", {}).get("hardware", {})
    if hw.get("gpu"):
        return f"one {hw['gpu']} GPU"
    return f"a {hw.get('cores', '?')}-core {hw.get('cpu', 'CPU')}"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _extra_rows(card: dict) -> list[str]:
    lines = []
    drawn = card.get("drawn_digit_accuracy")
    if drawn:
        lines.append(
            f"| Scripted canvas drawings, accuracy | — | — | {drawn['accuracy']:.2f}% of {drawn['n']} "
            "(`python -m capsviz.drawn_digits`) |"
        )
    redrawn = card.get("redrawn_mnist_accuracy")
    if redrawn:
        lines.append(
            f"| MNIST test digits redrawn with the canvas pen, accuracy | — | — | {redrawn['accuracy']:.2f}% of "
            f"{redrawn['n']:,} (`python -m capsviz.redrawn_mnist`) |"
        )
    sweep = card.get("accuracy_by_routing_iterations", {})
    if sweep:
        cells = ", ".join(f"r={k}: {v:.2f}%" for k, v in sorted(sweep.items()))
        lines.append(f"| Accuracy by routing iterations at inference | | | {cells} |")
    return lines


def render_results_table(card: dict) -> str:
    """The README's comparison with the paper and the reference tutorial, from the card."""
    t = card.get("training", {})
    ours_error = f"{100 - card['test_accuracy']:.2f}"
    lines = [
        "| | Paper (Sabour et al. 2017) | Tutorial (XifengGuo/CapsNet-Pytorch) | **capsviz checkpoint** |",
        "|---|---|---|---|",
        f"| MNIST test error (%) | {PAPER['error']} | {TUTORIAL['error']} | **{ours_error}** "
        f"({card.get('test_errors', '?')} of 10,000) |",
        f"| Routing iterations | {PAPER['routing']} | {TUTORIAL['routing']} | {card['routing_iterations']} |",
        f"| Epochs | {PAPER['epochs']} | {TUTORIAL['epochs']} | {card['epochs']} |",
        f"| Training time, hardware | {PAPER['time']} | {TUTORIAL['time']} | "
        f"{_duration(t.get('wall_time_s', 0))} on {_hardware(card)}, {t.get('precision', '?')} |",
        f"| Augmentation | ±2 px shifts | ±2 px shifts | {DESCRIPTIONS.get(t.get('augment'), '?')} |",
    ]
    return "\n".join(lines + _extra_rows(card))


def replace_between_markers(text: str, table: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"README lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


# --- checkpoints/README.md (Hugging Face model card) --------------------------------------------------------


def is_two_digit(card: dict) -> bool:
    return "MultiMNIST" in str(card.get("data", {}).get("dataset", ""))


def render_pair_table(card: dict) -> str:
    """The two-digit model against the paper's MultiMNIST results (Sabour et al. 2017, section 6)."""
    t = card.get("training", {})
    sweep = card.get("accuracy_by_routing_iterations", {})
    lines = [
        "| | Paper: CapsNet, 3 iterations | Paper: CNN baseline | **capsviz two-digit checkpoint** |",
        "|---|---|---|---|",
        f"| MultiMNIST test error, both digits (%) | 5.2 | 8.1 | **{100 - card['test_accuracy']:.2f}** "
        f"({card.get('test_errors', '?')} of {card.get('data', {}).get('test_pairs', '?'):,} pairs) |",
        f"| Training | 60M generated pairs | — | {card['epochs']} epochs of {t.get('epoch_images') or '?':,} "
        f"pairs from the MNIST weights, {_duration(t.get('wall_time_s', 0))} on {_hardware(card)}, "
        f"{t.get('precision', '?')} |",
    ]
    if "mnist_accuracy" in card:
        lines.append(f"| Single centred MNIST digits, accuracy | — | — | {card['mnist_accuracy']:.2f}% |")
    if sweep:
        cells = ", ".join(f"r={k}: {v:.2f}%" for k, v in sorted(sweep.items()))
        lines.append(f"| Both digits right by routing iterations | | | {cells} |")
    return "\n".join(lines)


def _yaml_header(card: dict) -> str:
    acc = card["test_accuracy"]
    pair = is_two_digit(card)
    name, dataset = ("capsviz-capsnet-multimnist", "MultiMNIST") if pair else ("capsviz-capsnet-mnist", "MNIST")
    lines = [
        "---",
        "license: other",  # the project has not chosen a licence yet
        "library_name: pytorch",
        "pipeline_tag: image-classification",
        "tags: [capsule-network, capsnet, dynamic-routing, mnist]",
        "datasets: [mnist]",
        "metrics: [accuracy]",
        "model-index:",
        f"- name: {name}",
        "  results:",
        "  - task: {type: image-classification, name: Image Classification}",
        f"    dataset: {{type: {dataset.lower()}, name: {dataset}, split: test}}",
        "    metrics:",
        f'    - {{type: accuracy, value: {acc}, name: "Test accuracy (%){" of both digits" if pair else ""}"}}',
        "---",
    ]
    return "\n".join(lines)


def render_checkpoint_readme(card: dict) -> str:
    """``checkpoints/README.md``: a YAML header the Hugging Face Hub reads, then the same results table
    as the project README and the recipe, all from ``model_card.json``."""
    t = card.get("training", {})
    pair = is_two_digit(card)
    keys = ("batch_size", "lr", "lr_decay", "precision", "seed") + (() if pair else ("augment",))
    recipe = ", ".join(f"{k} {t[k]}" for k in keys if k in t)  # pairs are not augmented: their shifts are the data
    body = [
        "# capsviz CapsNet (" + ("MultiMNIST: two overlapping digits" if pair else "MNIST") + ")",
        "",
        "A CapsNet as in Sabour, Frosst & Hinton (2017), *Dynamic Routing Between Capsules*: Conv1 → "
        f"PrimaryCaps → DigitCaps with {card['routing_iterations']} routing iterations → decoder, "
        f"{card['parameters']:,} parameters. Weights: `capsnet.safetensors`; the full card: `model_card.json`.",
        "",
        render_pair_table(card) if pair else render_results_table(card),
        "",
        f"Training recipe: {recipe}." if recipe else "",
        "",
        "This file is generated from `model_card.json` (`python scripts/make_readme_figures.py`).",
        "",
    ]
    return _yaml_header(card) + "\n\n" + "\n".join(body)
