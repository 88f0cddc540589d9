import os
from pathlib import Path

import pytest
import torch

from capsviz.data import has_mnist, resolve_data_dir

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder the data setting points at; CI points it at ../shared/data."""
    root = resolve_data_dir()
    if not has_mnist(root):
        pytest.fail(f"MNIST not found under {root}: set CAPSVIZ_DATA_DIR to the folder holding MNIST/raw/")
    return root
