"""The torch loop in-process on a tiny spec: seeded reproducibility, exact resume from a mid-epoch checkpoint, the
run folder's files, and clear errors (checkpoint of another spec, refused resume changes, torn checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.train import TrainConfig, TrainError  # noqa: E402
from archc.train.checkpoint import load_checkpoint  # noqa: E402
from archc.train.runner import run  # noqa: E402

from .conftest import SPECS, needs_fashion_mnist  # noqa: E402

pytestmark = needs_fashion_mnist

TINY = str(SPECS / "tiny_cnn.yaml")
SMALL = str(SPECS / "small_resnet.yaml")
TIMING = {"images_per_s", "epoch_time_s", "time"}


def config(out: Path, **changes: Any) -> TrainConfig:
    base = dict(spec=TINY, data="fashion-mnist", subset=512, test_subset=256, epochs=2, batch_size=32,
                optimizer="sgd", lr=0.05, schedule="cosine", random_crop=2, hflip=True, checkpoint_every=5,
                progress=False, threads=1, out=str(out), device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def without_timing(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def weights(run_dir: Path) -> dict[str, Any]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One uninterrupted two-epoch run of the tiny spec (random crops, flips and dropout all in play)."""
    return run(config(tmp_path_factory.mktemp("reference")))


def test_run_folder_contents(reference: Any):
    folder = reference.run_dir
    assert folder.name.startswith("tiny_cnn-")
    names = {p.name for p in folder.iterdir()}
    assert {"spec.yaml", "config.json", "metrics.jsonl", "curves.png", "checkpoints"} <= names
    assert {p.name for p in (folder / "checkpoints").iterdir()} <= {"last.pt", "best.pt"}
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "images_per_s"} <= set(rows[0])
    assert archc.parse(str(folder / "spec.yaml")).digest() == archc.parse(TINY).digest()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["train"]["epochs"] == 2 and saved["data"]["train_size"] == 512
    state = load_checkpoint(folder / "checkpoints" / "last.pt")
    assert state["progress"]["epoch"] == 2 and state["spec_digest"] == archc.parse(TINY).digest()
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_metrics(reference: Any, tmp_path: Path):
    again = run(config(tmp_path))
    assert without_timing(again.history) == without_timing(reference.history)
    for name, tensor in weights(reference.run_dir).items():
        assert torch.equal(tensor, weights(again.run_dir)[name]), name
    other = run(config(tmp_path, seed=1, epochs=1))
    assert other.history[0]["train_loss"] != reference.history[0]["train_loss"]


class Interrupted(Exception):
    pass


def interrupting_factory(after_steps: int):
    """Models that raise on their ``after_steps + 1``-th training forward: a crash in the middle of an epoch."""
    def build(seed: int) -> torch.nn.Module:
        model = archc.load(TINY, seed=seed)
        forward, calls = model.forward, [0]

        def counting(*args: Any) -> Any:
            if model.training:
                calls[0] += 1
                if calls[0] > after_steps:
                    raise Interrupted
            return forward(*args)

        model.forward = counting
        return model

    return build


def test_resume_mid_epoch_continues_exactly(reference: Any, tmp_path: Path):
    with pytest.raises(Interrupted):  # 16 steps per epoch: dies at step 29, last checkpoint at step 25
        run(config(tmp_path), model_factory=interrupting_factory(29))
    (folder,) = tmp_path.iterdir()
    state = load_checkpoint(folder / "checkpoints" / "last.pt")["progress"]
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 9, 25)
    assert len((folder / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = run(resume=folder)
    assert resumed.run_dir == folder
    assert [row["test_acc"] for row in resumed.history] == [row["test_acc"] for row in reference.history]
    for got, want in zip(without_timing(resumed.history), without_timing(reference.history)):
        assert got == pytest.approx(want, rel=1e-9)  # the train sums were added up in two parts
    for name, tensor in weights(reference.run_dir).items():
        assert torch.equal(tensor, weights(folder)[name]), name
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]


def test_resume_may_raise_epochs_but_not_change_the_recipe(reference: Any, tmp_path: Path, capsys: Any):
    with pytest.raises(TrainError, match="--lr cannot change"):
        run(resume=reference.run_dir, changes={"lr": 0.2})
    code = main(["train", "--resume", str(reference.run_dir), "--lr", "0.2"])
    assert code == 2 and "--lr cannot change" in capsys.readouterr().err
    done = run(resume=reference.run_dir, changes={"epochs": 2})  # nothing left to do
    assert len(done.history) == 2


def test_checkpoint_into_another_spec_names_the_tensors(reference: Any, capsys: Any):
    code = main(["train", TINY, "--set", "width=12", "--resume", str(reference.run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "conv1.weight: checkpoint [8, 1, 3, 3], model [12, 1, 3, 3]" in err
    assert "params.width: 8 -> 12" in err
    code = main(["train", SMALL, "--resume", str(reference.run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "was saved from spec 'tiny_cnn'" in err and "this is spec 'small_resnet'" in err
    assert "fc.weight: checkpoint [10, 8], model [10, 1568]" in err and "40 tensors do not fit" in err
    code = main(["train", TINY, "--set", "drop=0.5", "--resume", str(reference.run_dir)])  # same tensors
    err = capsys.readouterr().err
    assert code == 2 and "every tensor fits, but the specs differ" in err and "params.drop: 0.1 -> 0.5" in err


def test_unreadable_checkpoint_is_a_clear_error(reference: Any, tmp_path: Path, capsys: Any):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference.run_dir, copy)
    path = copy / "checkpoints" / "last.pt"
    path.write_bytes(path.read_bytes()[:1000])
    code = main(["train", "--resume", str(copy), "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read the checkpoint" in err and "Traceback" not in err


def test_command_line_mistakes(tmp_path: Path, capsys: Any):
    assert main(["train"]) == 2
    assert "give a SPEC" in capsys.readouterr().err
    assert main(["train", TINY, "--data", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["train", TINY, "--subset", "10", "--batch-size", "64", "--out", str(tmp_path)]) == 2
    assert "fewer than one batch" in capsys.readouterr().err
    assert main(["train", TINY, "--schedule", "onecycle", "--warmup-epochs", "1", "--out", str(tmp_path)]) == 2
    assert "own warm-up" in capsys.readouterr().err
    assert main(["train", TINY, "--device", "cuda:7", "--subset", "64", "--out", str(tmp_path)]) == 2
    assert "--device cuda:7" in capsys.readouterr().err


def test_num_classes_follows_the_data(tmp_path: Path, capsys: Any):
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "three.npz"
    np.savez(data, x_train=rng.integers(0, 255, (64, 28, 28), dtype=np.uint8), y_train=np.arange(64) % 3,
             x_test=rng.integers(0, 255, (16, 28, 28), dtype=np.uint8), y_test=np.arange(16) % 3)
    result = run(config(tmp_path, data=str(data), epochs=1, checkpoint_every=0, random_crop=0))
    assert archc.parse(str(result.run_dir / "spec.yaml")).params["num_classes"] == 3
    assert json.loads((result.run_dir / "config.json").read_text())["train"]["overrides"] == ["num_classes=3"]
    assert main(["train", TINY, "--set", "num_classes=4", "--subset", "64", "--out", str(tmp_path)]) == 2
    assert "has 4 outputs but fashion-mnist has 10 classes" in capsys.readouterr().err
