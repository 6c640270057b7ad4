"""torchrun with 2 CPU processes (gloo): trains, only rank 0 writes, and agrees with one process.

With a global batch B split as B/2 per process, DistributedSampler gives the two processes exactly the samples of
the single process' batch, crops and flips are drawn for the global batch, and DDP averages the gradients: without
BatchNorm (per-process statistics) the two runs compute the same steps up to float rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archc.train.checkpoint import load_checkpoint  # noqa: E402

from .conftest import ROOT, SPECS, needs_fashion_mnist, subprocess_env  # noqa: E402

pytestmark = needs_fashion_mnist

ARGS = [str(SPECS / "tiny_cnn.yaml"), "--set", "drop=0.0", "--data", "fashion-mnist", "--subset", "512",
        "--test-subset", "512", "--epochs", "2", "--batch-size", "64", "--optimizer", "adam", "--lr", "0.01",
        "--random-crop", "2", "--hflip", "--device", "cpu", "--threads", "1", "--no-progress"]


def test_two_gloo_processes_agree_with_one(tmp_path: Path):
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "archc", "train", *ARGS, "--out", str(tmp_path / "ddp")],
                         cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    assert "DDP over 2 processes (gloo)" in ddp.stdout
    (ddp_run,) = (tmp_path / "ddp").iterdir()  # only rank 0 made a run folder
    single = subprocess.run([sys.executable, "-m", "archc", "train", *ARGS, "--out", str(tmp_path / "single")],
                            cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stdout + single.stderr
    (single_run,) = (tmp_path / "single").iterdir()

    ddp_rows = [json.loads(line) for line in (ddp_run / "metrics.jsonl").read_text().splitlines()]
    single_rows = [json.loads(line) for line in (single_run / "metrics.jsonl").read_text().splitlines()]
    assert len(ddp_rows) == len(single_rows) == 2
    for got, want in zip(ddp_rows, single_rows):
        assert got["step"] == want["step"] == 8 * got["epoch"]
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-4)
        assert got["test_loss"] == pytest.approx(want["test_loss"], rel=1e-4)
        assert abs(got["test_acc"] - want["test_acc"]) <= 2 / 512
    ddp_weights = load_checkpoint(ddp_run / "checkpoints" / "last.pt")["model"]
    single_weights = load_checkpoint(single_run / "checkpoints" / "last.pt")["model"]
    for name, tensor in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
