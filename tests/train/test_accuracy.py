"""The small residual spec learns Fashion-MNIST: >= 85% on the full 10,000-image test set after one epoch over a
seeded 12,000-image subset of the training set (about 30 s of one CPU core)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from archc.train import TrainConfig  # noqa: E402
from archc.train.runner import run  # noqa: E402

from .conftest import SPECS, needs_fashion_mnist  # noqa: E402


@needs_fashion_mnist
def test_small_resnet_reaches_85_percent_on_fashion_mnist(tmp_path: Path):
    result = run(TrainConfig(spec=str(SPECS / "small_resnet.yaml"), data="fashion-mnist", subset=12000, epochs=1,
                             batch_size=32, optimizer="adam", lr=2e-3, weight_decay=0.0, schedule="cosine",
                             device="cpu", threads=1, progress=False, out=str(tmp_path)))
    (row,) = result.history
    print(f"small_resnet: test accuracy {row['test_acc']:.4f}, train accuracy {row['train_acc']:.4f}")
    assert row["test_acc"] >= 0.85, row
    assert row["train_acc"] > 0.75
