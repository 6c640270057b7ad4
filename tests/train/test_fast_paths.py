"""archc train's speed settings (archc/train/torch_fast.py) and --memory-efficient: on the CPU a memory-efficient
run is the default run, metric for metric and weight for weight."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archc.cli import build_parser, main  # noqa: E402
from archc.train import TrainConfig, TrainError  # noqa: E402
from archc.train.checkpoint import load_checkpoint  # noqa: E402
from archc.train.runner import run  # noqa: E402
from archc.train.torch_fast import Speed, resolve_speed  # noqa: E402

from .conftest import SPECS, needs_fashion_mnist  # noqa: E402

SMALL = str(SPECS / "small_resnet.yaml")
TIMING = {"images_per_s", "epoch_time_s", "time"}


def test_cuda_is_fast_by_default_and_each_setting_can_be_turned_off():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert resolve_speed(TrainConfig(precision="fp32"), cuda) == Speed(False, True, True, True)
    assert resolve_speed(TrainConfig(precision="fp32"), cpu) == Speed(False, False, False, False)
    off = TrainConfig(precision="fp32", channels_last=False, compile=False, fused_optimizer=False)
    assert resolve_speed(off, cuda) == Speed(False, False, False, False)
    assert resolve_speed(TrainConfig(precision="bf16", channels_last=True), cpu) == Speed(True, True, False, False)
    # dynamo does not trace the recomputing autograd Function: no automatic torch.compile with --memory-efficient
    assert not resolve_speed(TrainConfig(precision="fp32", memory_efficient=True), cuda).compile


def test_flags_map_to_the_config():
    args = build_parser().parse_args(["train", "resnet20", "--no-compile", "--no-channels-last",
                                      "--fused-optimizer", "--memory-efficient"])
    assert (args.compile, args.channels_last, args.fused_optimizer, args.memory_efficient) == (False, False, True,
                                                                                               True)
    args = build_parser().parse_args(["train", "resnet20"])
    assert (args.compile, args.channels_last, args.fused_optimizer, args.memory_efficient) == (None,) * 4


def test_memory_efficient_is_refused_for_keras(tmp_path: Path, capsys):
    with pytest.raises(TrainError, match="--memory-efficient is for the torch backend"):
        TrainConfig(backend="keras", memory_efficient=True)
    assert main(["train", SMALL, "--backend", "keras", "--memory-efficient", "--out", str(tmp_path)]) == 2
    assert "--memory-efficient is for the torch backend" in capsys.readouterr().err


@needs_fashion_mnist
def test_memory_efficient_run_equals_the_default_run(tmp_path: Path):
    def train(out: str, **changes) -> tuple[list, dict]:
        cfg = TrainConfig(spec=SMALL, data="fashion-mnist", subset=256, test_subset=128, epochs=1, batch_size=32,
                          lr=0.05, progress=False, threads=1, device="cpu", out=str(tmp_path / out), **changes)
        result = run(cfg)
        history = [{k: v for k, v in row.items() if k not in TIMING} for row in result.history]
        return history, load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]

    default_history, default_weights = train("default")
    ours_history, ours_weights = train("ours", memory_efficient=True)
    assert len(ours_history) == len(default_history)
    for ours_row, default_row in zip(ours_history, default_history):
        assert ours_row == pytest.approx(default_row, rel=1e-5)
    assert list(ours_weights) == list(default_weights)
    for key, value in default_weights.items():
        torch.testing.assert_close(ours_weights[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_memory_efficient_says_when_it_changes_nothing(tmp_path: Path, capsys):
    common = ["--data", "fashion-mnist", "--subset", "64", "--test-subset", "32", "--epochs", "1", "--batch-size",
              "32", "--device", "cpu", "--threads", "1", "--no-progress", "--memory-efficient"]
    no_batchnorm = str(SPECS / "tiny_cnn.yaml")
    assert main(["train", no_batchnorm, *common, "--out", str(tmp_path / "a")]) == 0
    assert "no BatchNorm -> ReLU -> conv chain to recompute" in capsys.readouterr().out
    assert main(["train", SMALL, *common, "--out", str(tmp_path / "b")]) == 0
    assert "no BatchNorm -> ReLU -> conv chain" not in capsys.readouterr().out
