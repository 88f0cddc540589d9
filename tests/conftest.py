import os
from pathlib import Path

import pytest
import torch

from capsviz.data.mnist import ENV_VAR, has_mnist, resolve_data_dir

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# The README's test command may give a relative data folder; tests that start subprocesses elsewhere need it whole.
if os.environ.get(ENV_VAR):
    os.environ[ENV_VAR] = str(Path(os.environ[ENV_VAR]).expanduser().resolve())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST folder the data setting points at; CI points it at ../shared/data."""
    root = resolve_data_dir()
    if not has_mnist(root):
        pytest.fail(f"MNIST not found under {root}: set CAPSVIZ_DATA_DIR to the folder holding MNIST/raw/")
    return root


@pytest.fixture(scope="session")
def mnist_test(data_dir):
    """MNIST's 10,000 test digits: images (N, 28, 28) uint8, labels (N,)."""
    from capsviz.data.mnist import load_mnist

    return load_mnist(train=False, data_dir=data_dir)
