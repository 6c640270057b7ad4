"""Every run writes TensorBoard event files that TensorBoard's own reader parses: the metrics.jsonl scalars per epoch
and the spec's summary as text, in both backends. The Keras run also starts from a torch run's weights
(--init-from, --freeze, --grad-clip, --ema), is evaluated again by `archc eval` (in Keras, raw and EMA weights)
and loaded as a torch model by `archc.load`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from archc.train import TrainConfig  # noqa: E402
from archc.train.runner import run  # noqa: E402

from .conftest import ROOT, SPECS, needs_fashion_mnist, subprocess_env  # noqa: E402

pytestmark = needs_fashion_mnist

TINY = str(SPECS / "tiny_cnn.yaml")
TAGS = {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr", "images_per_s"}
FIELDS = {"loss/train": "train_loss", "loss/test": "test_loss", "accuracy/train": "train_acc",
          "accuracy/test": "test_acc", "lr": "lr"}


def events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def scalar_tags(accumulator: Any) -> set[str]:
    tags = accumulator.Tags()
    return set(tags["scalars"]) | {tag for tag in tags["tensors"] if not tag.endswith("text_summary")}


def scalar(accumulator: Any, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a scalar: torch's writer logs scalar events, tf.summary (TF 2) logs them as tensors."""
    if tag in accumulator.Tags()["scalars"]:
        return [(e.step, e.value) for e in accumulator.Scalars(tag)]
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]


def check_scalars(accumulator: Any, rows: list[dict[str, Any]]) -> None:
    assert TAGS <= scalar_tags(accumulator)
    for tag, field in FIELDS.items():
        assert scalar(accumulator, tag) == [
            (row["epoch"], pytest.approx(row[field], rel=1e-6, abs=1e-9)) for row in rows], tag


def check_lr(rows: list[dict[str, Any]]) -> None:
    """metrics.jsonl's lr is the learning rate of the epoch's last optimizer step, in both backends."""
    from archc.train.schedule import Schedule

    schedule = Schedule("cosine", 0.1, steps_per_epoch=8, epochs=2)
    assert [row["lr"] for row in rows] == [pytest.approx(schedule.lr(row["step"] - 1), abs=1e-12) for row in rows]
    assert rows[0]["lr"] > rows[-1]["lr"] > 0.0  # the last step still trains (the next would have lr 0)


def text_of(accumulator: Any, tag: str) -> str:
    (event,) = accumulator.Tensors(tag)
    return event.tensor_proto.string_val[0].decode()


def test_torch_run_writes_event_files(tmp_path: Path):
    result = run(TrainConfig(spec=TINY, subset=256, test_subset=128, epochs=2, batch_size=32, device="cpu",
                             threads=1, progress=False, out=str(tmp_path)))
    accumulator = events(result.run_dir / "tensorboard")
    check_scalars(accumulator, metrics(result.run_dir))
    check_lr(metrics(result.run_dir))
    text = text_of(accumulator, "spec/text_summary")
    assert "tiny_cnn" in text and "block.conv" in text


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")
def test_keras_run_writes_event_files_and_evaluates_again(tmp_path: Path, capsys: Any):
    """One Keras run (a TensorFlow start-up is the dearest part) also checks --init-from a torch run, --freeze and
    --grad-clip and --ema in Keras: the frozen layer keeps the torch run's weights exactly."""
    from archc.train.checkpoint import load_checkpoint

    source = run(TrainConfig(spec=TINY, subset=64, test_subset=32, epochs=1, batch_size=32, device="cpu", threads=1,
                             progress=False, out=str(tmp_path / "torch"))).run_dir
    command = [sys.executable, "-m", "archc", "train", TINY, "--backend", "keras", "--subset", "256", "--test-subset",
               "128", "--epochs", "2", "--batch-size", "32", "--device", "cpu", "--no-progress", "--out",
               str(tmp_path / "keras"), "--init-from", str(source), "--freeze", "conv1.*", "--grad-clip", "1.0",
               "--ema", "0.5"]
    done = subprocess.run(command, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"init from {source}: 6 of 6 tensors matched by name" in done.stdout
    assert "frozen: 1 layers, 2 of 6 tensors (conv1.*)" in done.stdout
    (run_dir,) = (tmp_path / "keras").iterdir()
    rows = metrics(run_dir)
    check_lr(rows)
    board = run_dir / "tensorboard"
    ours = events(board / "archc")
    check_scalars(ours, rows)
    assert "tiny_cnn" in text_of(ours, "spec") and "block.conv" in text_of(ours, "spec")
    keras_own = events(board / "validation")  # keras.callbacks.TensorBoard's own logs
    assert scalar(keras_own, "epoch_accuracy") == [(r["epoch"] - 1, pytest.approx(r["test_acc"])) for r in rows]

    from archc.cli import main

    assert main(["eval", str(run_dir), "--checkpoint", "last", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "keras" and result["samples"] == 128
    assert result["top1"] == pytest.approx(rows[-1]["test_acc"], abs=1e-12)
    assert main(["eval", str(run_dir), "--checkpoint", "last", "--ema", "--json"]) == 0  # the optimizer's averages
    result = json.loads(capsys.readouterr().out)
    assert result["top1"] == pytest.approx(rows[-1]["ema_test_acc"], abs=1e-12)
    assert result["loss"] == pytest.approx(rows[-1]["ema_test_loss"], rel=1e-5) != rows[-1]["test_loss"]
    assert [value for _, value in scalar(ours, "accuracy/test_ema")] == [pytest.approx(r["ema_test_acc"]) for r in rows]

    import archc

    model = archc.load(run_dir, checkpoint="last")  # the Keras weights in the torch model
    best = load_checkpoint(source / "checkpoints" / "best.pt")["model"]
    trained = model.state_dict()
    assert torch.equal(trained["conv1.weight"], best["conv1.weight"]) and torch.equal(trained["conv1.bias"],
                                                                                     best["conv1.bias"])
    assert not torch.equal(trained["fc.weight"], best["fc.weight"])
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    keras_model = archc.load(run_dir, backend="keras", checkpoint="last")
    np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(),
                               np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False)), rtol=1e-5,
                               atol=1e-5)
