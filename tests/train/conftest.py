"""Shared fixtures of the training tests: small specs, one torch thread, a temporary runs folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPECS = Path(__file__).parent / "specs"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parents[2]


def fashion_mnist_present() -> bool:
    return (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file()


needs_fashion_mnist = pytest.mark.skipif(not fashion_mnist_present(),
                                         reason="Fashion-MNIST IDX files not installed (dataset-fashion-mnist)")


@pytest.fixture(autouse=True)
def _one_thread():
    """The test machine is small and shared: one torch thread avoids oversubscription (and keeps sums ordered)."""
    try:
        import torch
    except ImportError:  # the framework-free tests still run
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m archc` in a subprocess: one thread, the source tree first on the path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env
