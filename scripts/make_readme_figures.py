"""Regenerate the README's results table, the documentation's figures and the app capture from the shipped checkpoint.

    python scripts/make_readme_figures.py [--checkpoint checkpoints] [--data-dir ../shared/data] [--no-capture]

Rewrites the results table between the README's markers and checkpoints/README.md (and the two-digit model's)
from the model card, writes docs/training.png (the training log) and docs/reconstructions.png (test inputs above
their reconstructions, as the paper and the seed tutorial show them), both shown in docs/training.md, and, unless
--no-capture, runs scripts/make_app_capture.py: docs/app.png and docs/app.webp, the README's picture of the app
(streamlit_app.py served and drawn on in headless chromium). No figure is copied by hand. Plotly renders through
kaleido, which needs a Chromium: set BROWSER_PATH=/usr/bin/chromium if it is not found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))

from capsviz.data.mnist import load_mnist  # noqa: E402
from capsviz.training import checkpoint as ckpt  # noqa: E402
from capsviz.training.card import (  # noqa: E402
    CHECKPOINT_README,
    render_checkpoint_readme,
    render_results_table,
    replace_between_markers,
)


def training_figure(rows: list[dict]):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ep = [r["epoch"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (margin + 0.0005 x reconstruction)", "Accuracy (%)"))
    fig.add_trace(
        go.Scatter(x=ep, y=[r["train_loss"] for r in rows], name="train loss", line=dict(color="#636EFA")), 1, 1
    )
    fig.add_trace(
        go.Scatter(x=ep, y=[r["test_loss"] for r in rows], name="test loss", line=dict(color="#EF553B")), 1, 1
    )
    fig.add_trace(
        go.Scatter(
            x=ep, y=[r["train_accuracy"] for r in rows], name="train accuracy (augmented)", line=dict(color="#636EFA")
        ),
        1,
        2,
    )
    fig.add_trace(
        go.Scatter(x=ep, y=[r["test_accuracy"] for r in rows], name="test accuracy", line=dict(color="#EF553B")), 1, 2
    )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[98.0, 100.0], row=1, col=2)
    fig.add_hline(y=99.75, line_dash="dot", line_color="grey", annotation_text="paper 99.75", row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(width=1100, height=420, template="plotly_white", legend=dict(orientation="h", y=-0.2))
    return fig


def reconstruction_grid(model, data_dir: str | None, n: int = 10, rows: int = 3) -> Image.Image:
    """Rows of test digits, each followed by the row of their reconstructions."""
    test = load_mnist(train=False, data_dir=data_dir)
    x, y = test.batch(torch.arange(n * rows))
    with torch.inference_mode():
        out = model(x)
    real = x[:, 0].numpy()
    recon = out.reconstruction.numpy()
    blocks = []
    for r in range(rows):
        blocks.append(np.concatenate(list(real[r * n : (r + 1) * n]), axis=1))
        blocks.append(np.concatenate(list(recon[r * n : (r + 1) * n]), axis=1))
    grid = np.concatenate(blocks, axis=0)
    img = Image.fromarray((grid * 255).astype(np.uint8))
    return img.resize((img.width * 3, img.height * 3), Image.NEAREST)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", default=str(ckpt.DEFAULT_DIR))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--tables-only", action="store_true", help="only the README table and checkpoints/README.md")
    p.add_argument("--no-capture", action="store_true", help="leave docs/app.png and docs/app.webp as they are")
    args = p.parse_args()
    cdir = Path(args.checkpoint)
    card = ckpt.read_card(cdir)
    readme = ROOT / "README.md"
    readme.write_text(replace_between_markers(readme.read_text(), render_results_table(card)))
    (cdir / CHECKPOINT_README).write_text(render_checkpoint_readme(card))
    print(f"wrote the README results table and {cdir / CHECKPOINT_README}")
    pair_dir = cdir / "multimnist"  # the two-digit model's own card, when it is there
    if (pair_dir / ckpt.CARD).is_file():
        (pair_dir / CHECKPOINT_README).write_text(render_checkpoint_readme(ckpt.read_card(pair_dir)))
        print(f"wrote {pair_dir / CHECKPOINT_README}")
    if args.tables_only:
        return 0
    os.environ.setdefault("BROWSER_PATH", "/usr/bin/chromium")
    rows = [json.loads(line) for line in (cdir / ckpt.METRICS).read_text().splitlines()]
    (ROOT / "docs").mkdir(exist_ok=True)
    training_figure(rows).write_image(ROOT / "docs" / "training.png", scale=1)
    reconstruction_grid(ckpt.load_model(cdir), args.data_dir).save(ROOT / "docs" / "reconstructions.png")
    print("wrote docs/training.png and docs/reconstructions.png")
    if not args.no_capture:
        import make_app_capture  # scripts/, next to this file

        os.environ.setdefault("CAPSVIZ_CHECKPOINT", str(cdir.resolve()))  # the app shows the same checkpoint
        make_app_capture.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
