"""MNIST from a local folder (torchvision layout), with torchvision's download as the fallback.

The data folder is the one that holds ``MNIST/raw/`` (the root torchvision.datasets.MNIST takes).
It is chosen, first found wins, from: the ``--data-dir`` flag, the ``CAPSVIZ_DATA_DIR`` environment
variable, and a default: ``data/`` in a source checkout (git-ignored), else the user's cache folder
(``$XDG_CACHE_HOME/capsviz`` or ``~/.cache/capsviz``). Where the network allows, torchvision downloads
MNIST into it on first use, with a progress bar.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch


ENV_VAR = "CAPSVIZ_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    if (REPO_ROOT / "pyproject.toml").is_file():  # a source checkout: keep the data beside the code
        return REPO_ROOT / "data"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "capsviz"


DEFAULT_DATA_DIR = _default_data_dir()
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(RuntimeError):
    """MNIST is not where the data setting points, and it could not be downloaded."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root: the explicit argument, else $CAPSVIZ_DATA_DIR, else DEFAULT_DATA_DIR."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_DATA_DIR


def raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def has_mnist(root: Path) -> bool:
    return all((raw_dir(root) / f).is_file() for f in RAW_FILES)


def _missing_message(root: Path, reason: str) -> str:
    files = "\n".join(f"  {raw_dir(root) / f}" for f in RAW_FILES)
    return (
        f"MNIST not found in {root} ({reason}).\n"
        f"Expected the four uncompressed IDX files:\n{files}\n"
        f"Point capsviz at a folder holding MNIST/raw/ with --data-dir DIR or the {ENV_VAR} "
        "environment variable, or run where torchvision can download it."
    )


@dataclass
class MNISTSplit:
    """images (N, 28, 28) uint8, labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images (B, 1, 28, 28) in [0, 1] and labels for the given indices."""
        return self.images[index].unsqueeze(1).float().div_(255.0), self.labels[index]


def load_mnist(train: bool, data_dir: str | os.PathLike | None = None, download: bool = True) -> MNISTSplit:
    """One MNIST split as tensors, read by torchvision from the data folder.

    Raises DataNotFoundError (never a bare traceback) when the files are missing and cannot be
    downloaded, or are unreadable.
    """
    from torchvision.datasets import MNIST

    root = resolve_data_dir(data_dir)
    try:
        ds = MNIST(root=str(root), train=train, download=False)
    except RuntimeError as exc:
        if not download:
            raise DataNotFoundError(_missing_message(root, "files missing")) from exc
        try:
            ds = MNIST(root=str(root), train=train, download=True)
        except Exception as exc2:  # offline, read-only folder, ...
            raise DataNotFoundError(
                _missing_message(root, f"files missing and download failed: {type(exc2).__name__}")
            ) from exc2
    except Exception as exc:  # truncated or corrupt IDX files
        raise DataNotFoundError(_missing_message(root, f"unreadable: {exc}")) from exc
    return MNISTSplit(images=ds.data.contiguous(), labels=ds.targets.long().contiguous())


def data_checksums(data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """SHA-256 of each raw MNIST file, for the model card."""
    root = raw_dir(resolve_data_dir(data_dir))
    out = {}
    for name in RAW_FILES:
        h = hashlib.sha256()
        with open(root / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out[name] = h.hexdigest()
    return out
