"""What every capsviz command does with an error its user can fix: one line, exit status 2.

    @exit_on_user_error
    def main(argv: list[str] | None = None) -> int: ...

Missing or unreadable MNIST (``DataNotFoundError``), a missing, corrupt or mismatched checkpoint
(``CheckpointError``) and unusable input files (``UserInputError``) print ``error: <message>`` on
stderr and make ``main`` return 2; the messages name the file and the setting to change. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from capsviz.data.mnist import DataNotFoundError
from capsviz.model.capsnet import CapsNet
from capsviz.training.checkpoint import DEFAULT_DIR, CheckpointError, load_model, read_card

EXIT_USER_ERROR = 2


class UserInputError(ValueError):
    """A file or option given on the command line cannot be used; the message says how to fix it."""


USER_ERRORS: tuple[type[Exception], ...] = (DataNotFoundError, CheckpointError, UserInputError)


def exit_on_user_error(main: Callable[..., int]) -> Callable[..., int]:
    """Decorate a CLI ``main``: an error its user can fix becomes ``error: <message>`` and status 2."""

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR

    return wrapper


def load_checkpoint(path: str | os.PathLike = DEFAULT_DIR, device: str = "cpu") -> tuple[CapsNet, dict[str, Any]]:
    """The model and its card from a checkpoint; raises CheckpointError (status 2 under the decorator)."""
    return load_model(path, device=device), read_card(path)
