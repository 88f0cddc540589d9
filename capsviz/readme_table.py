"""The README's results table, rendered from the model card (so it is never copied by hand)."""

from __future__ import annotations

from capsviz.augment import DESCRIPTIONS

START = "<!-- results:start -->"
END = "<!-- results:end -->"

# Published figures, for comparison (Sabour et al. 2017, Table 1; XifengGuo/CapsNet-Pytorch README).
PAPER = {"error": "0.25 ± 0.005", "routing": 3, "epochs": "not stated", "time": "not stated"}
TUTORIAL = {"error": "0.34 ± 0.029 (3 runs)", "routing": 3, "epochs": 50, "time": "≈ 61 min (73 s/epoch, GTX 1070 GPU)"}


def _hardware(card: dict) -> str:
    hw = card.get("training", {}).get("hardware", {})
    if hw.get("gpu"):
        return f"one {hw['gpu']} GPU"
    return f"a {hw.get('cores', '?')}-core {hw.get('cpu', 'CPU')}"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def render_results_table(card: dict) -> str:
    t = card.get("training", {})
    ours_error = f"{100 - card['test_accuracy']:.2f}"
    sweep = card.get("accuracy_by_routing_iterations", {})
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
    if sweep:
        cells = ", ".join(f"r={k}: {v:.2f}%" for k, v in sorted(sweep.items()))
        lines.append(f"| Accuracy by routing iterations at inference | | | {cells} |")
    return "\n".join(lines)


def replace_between_markers(text: str, table: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"README lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"
