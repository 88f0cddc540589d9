"""Checkpoint files: weights as safetensors with a JSON model card beside them.

    <dir>/capsnet.safetensors     model weights (the config is also in the file's metadata)
    <dir>/model_card.json         how it was trained and how well it does
    <dir>/train_state.safetensors optimizer, scheduler, RNG and progress, for --resume
    <dir>/metrics.jsonl           one line per finished epoch

Every write goes to a temporary file in the same folder and is renamed over the old one, so a
process killed at any moment (even SIGKILL) leaves the previous file intact. Inside
``write_together()`` the renames wait until every file is written: a full disk or an interrupt
part-way through leaves all the old files in place, never new weights beside an old card.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from capsviz.model.capsnet import CapsNet, CapsNetConfig

WEIGHTS = "capsnet.safetensors"
CARD = "model_card.json"
TRAIN_STATE = "train_state.safetensors"
METRICS = "metrics.jsonl"
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "checkpoints"  # a source checkout
_PACKAGED_DIR = Path(__file__).resolve().parents[1] / "shipped"  # an installed copy (pyproject's capsviz.shipped)
DEFAULT_DIR = _SOURCE_DIR if _SOURCE_DIR.is_dir() else _PACKAGED_DIR
MAX_CHECKPOINT_BYTES = 2**30  # a CapsNet here is 33-45 MB; anything near this is not one
FLOAT_DTYPES = ("F32", "F16", "BF16")  # safetensors dtype names of the weights a model can take
TRAIN_HINT = "Train one with:  python -m capsviz.train --data-dir ../shared/data --out checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model."""


# Test hook: seconds to sleep inside every write, so tests can signal a process mid-write.
PAUSE_ENV = "CAPSVIZ_TEST_WRITE_PAUSE_S"
# The files staged by the innermost write_together(): (temporary file, destination).
_staged: ContextVar[list[tuple[str, Path]] | None] = ContextVar("capsviz_staged_writes", default=None)


def _stage(path: Path, write: Callable[[str], None]) -> str:
    """Write a complete, synced temporary file beside ``path``; on any failure remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        if os.environ.get(PAUSE_ENV):
            time.sleep(float(os.environ[PAUSE_ENV]))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint is for sharing
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    tmp = _stage(path, write)
    staged = _staged.get()
    if staged is not None:  # write_together() renames it with the others
        staged.append((tmp, path))
        return
    try:
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def write_together() -> Iterator[None]:
    """Atomic writes inside this block replace their files only once all of them are written,
    in the order they were written (so put the one that commits the others last)."""
    staged: list[tuple[str, Path]] = []
    token = _staged.set(staged)
    try:
        yield
        for tmp, path in staged:  # renames need no space: nothing left to fail part-way
            os.replace(tmp, path)
    finally:
        _staged.reset(token)
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _write_text(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: _write_text(tmp, text))


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    _atomic(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def weights_path(path: str | os.PathLike) -> Path:
    """Accept either the checkpoint folder or the .safetensors file itself."""
    p = Path(path)
    return p / WEIGHTS if p.suffix != ".safetensors" else p


def save_weights(model: CapsNet, path: str | os.PathLike) -> None:
    state = {k: v.float() for k, v in model.state_dict().items()}
    atomic_save_tensors(weights_path(path), state, {"config": json.dumps(model.cfg.to_dict())})


def _corrupt(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {path} is corrupt or truncated ({exc}). Restore it (git checkout) or train a new one. {TRAIN_HINT}"
    )


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. {TRAIN_HINT}")
    if not os.access(path, os.R_OK):
        raise CheckpointError(f"Checkpoint {path} cannot be read (permission denied). Fix its permissions.")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:  # refuse before reading gigabytes
        raise CheckpointError(
            f"Checkpoint {path} is {size / 2**30:.1f} GiB, more than any CapsNet here needs "
            f"(limit {MAX_CHECKPOINT_BYTES / 2**30:.0f} GiB). {TRAIN_HINT}"
        )


def _read_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, tuple[int, ...]]]]:
    """The file's metadata and each tensor's (dtype, shape), from its header alone: no tensor data is read,
    and a header that claims more data than the file holds is refused by safetensors."""
    _check_readable(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            layout = {k: (str(f.get_slice(k).get_dtype()), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    except PermissionError as exc:
        raise CheckpointError(f"Checkpoint {path} cannot be read (permission denied: {exc}).") from exc
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _corrupt(path, exc) from exc
    return metadata, layout


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    metadata, _ = _read_header(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _corrupt(path, exc) from exc
    return tensors, metadata


def mismatch(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    """What keeps ``tensors`` from loading into a module with state dict ``expected`` ("" if nothing)."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        f"{k}: file {tuple(tensors[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    parts = (
        f"missing {missing}" if missing else "",
        f"unexpected {unexpected}" if unexpected else "",
        f"wrong shapes {wrong}" if wrong else "",
    )
    return "; ".join(part for part in parts if part)


def _config(path: Path, metadata: dict[str, str]) -> CapsNetConfig:
    try:
        return CapsNetConfig.from_dict(json.loads(metadata["config"])) if "config" in metadata else CapsNetConfig()
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"Checkpoint {path} has an unreadable model config ({exc}). {TRAIN_HINT}") from exc


def _check_layout(path: Path, cfg: CapsNetConfig, layout: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    """Names, shapes and dtypes against the model the config describes, built on the meta device (no memory),
    so a file claiming odd or huge shapes is refused before any tensor is read."""
    with torch.device("meta"):
        expected = CapsNet(cfg).state_dict()
    shapes = {k: torch.empty(shape, device="meta") for k, (_, shape) in layout.items()}
    detail = mismatch(shapes, expected)
    if detail:
        raise CheckpointError(f"Checkpoint {path} does not fit the CapsNet ({detail}). {TRAIN_HINT}")
    odd = sorted(f"{k}: {dtype}" for k, (dtype, _) in layout.items() if dtype not in FLOAT_DTYPES)
    if odd:
        raise CheckpointError(f"Checkpoint {path} holds non-float weights ({', '.join(odd[:3])}). {TRAIN_HINT}")


def load_model(path: str | os.PathLike = DEFAULT_DIR, device: str | torch.device = "cpu") -> CapsNet:
    """Build a CapsNet from a checkpoint, validating every tensor's name, shape, dtype and value."""
    wpath = weights_path(path)
    metadata, layout = _read_header(wpath)
    cfg = _config(wpath, metadata)
    _check_layout(wpath, cfg, layout)
    tensors, _ = _read_safetensors(wpath)
    broken = sorted(k for k, v in tensors.items() if not bool(torch.isfinite(v).all()))
    if broken:
        raise CheckpointError(f"Checkpoint {wpath} holds NaN or inf weights ({', '.join(broken[:3])}). {TRAIN_HINT}")
    model = CapsNet(cfg)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.to(device).eval()


def card_mismatch(card: dict[str, Any], model: CapsNet) -> str:
    """How a model card disagrees with the weights beside it ("" when it does not)."""
    problems = []
    arch = card.get("architecture")
    if isinstance(arch, dict) and json.loads(json.dumps(arch)) != json.loads(json.dumps(model.cfg.to_dict())):
        problems.append("its architecture is not the weights' architecture")
    params = card.get("parameters")
    actual = sum(p.numel() for p in model.parameters())
    if params is not None and params != actual:
        problems.append(f"it counts {params} parameters, the weights have {actual:,}")
    return "; ".join(problems)


def read_card(path: str | os.PathLike = DEFAULT_DIR) -> dict[str, Any]:
    card = weights_path(path).parent / CARD
    if not card.is_file():
        return {}
    try:
        return json.loads(card.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"Model card {card} is not valid JSON ({exc}).") from exc


def write_card(path: str | os.PathLike, card: dict[str, Any]) -> None:
    atomic_write_text(weights_path(path).parent / CARD, json.dumps(card, indent=2) + "\n")


# --- training state (for --resume) -----------------------------------------------------------


def save_train_state(
    path: Path, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Optimizer state flattened to tensors ``optim.<param>.<name>``; param groups and everything
    else JSON in the metadata. No pickle anywhere."""
    sd = optimizer.state_dict()
    flat = dict(tensors)
    for pid, st in sd["state"].items():
        for name, val in st.items():
            flat[f"optim.{pid}.{name}"] = val if torch.is_tensor(val) else torch.tensor(val)
    meta = dict(meta, param_groups=sd["param_groups"])
    atomic_save_tensors(path, flat, {"meta": json.dumps(meta)})


STATE_META = ("args", "scheduler", "progress", "param_groups")  # what every training state holds
STATE_TENSORS = ("rng.torch", "rng.epoch")


def read_train_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a training state; ``optimizer_state`` turns them into an optimizer
    state dict. Raises CheckpointError for a file that is not a capsviz training state."""
    tensors, metadata = _read_safetensors(path)
    try:
        meta = json.loads(metadata["meta"])
        missing = [k for k in STATE_META if k not in meta] + [k for k in STATE_TENSORS if k not in tensors]
        if not isinstance(meta.get("args"), dict) or not isinstance(meta.get("progress"), dict):
            missing.append("readable args and progress")
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        missing = [f"readable metadata ({exc})"]
    if missing:
        raise CheckpointError(
            f"{path} is not a capsviz training state (no {', '.join(missing)}). Start a new run without "
            "--resume, or give another --out."
        )
    return tensors, meta


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, val in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = val
    return {"state": state, "param_groups": meta["param_groups"]}
