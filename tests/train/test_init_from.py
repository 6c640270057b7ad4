"""`archc train --init-from FILE [--freeze PATTERN]`, `--grad-clip` and `--ema`: weights matched by name from a
torchvision state dict, a run, a .safetensors and a Keras .weights.h5 file; a classifier of another width skipped
with a note; frozen tensors unchanged by training; clipping bounds the steps; the EMA evaluated and checkpointed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.train import TrainConfig  # noqa: E402
from archc.train.checkpoint import load_checkpoint  # noqa: E402
from archc.train.init_from import init_torch  # noqa: E402
from archc.train.runner import run  # noqa: E402

from .conftest import SPECS, needs_fashion_mnist  # noqa: E402

pytestmark = needs_fashion_mnist

TINY = str(SPECS / "tiny_cnn.yaml")
SMALL = str(SPECS / "small_resnet.yaml")


def config(out: Path, **changes: Any) -> TrainConfig:
    base = dict(spec=SMALL, subset=200, test_subset=100, epochs=1, batch_size=50, optimizer="sgd", lr=0.05,
                weight_decay=0.0, device="cpu", threads=1, progress=False, out=str(out))
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():  # statistics that are not the defaults, so that copying them is visible
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.num_batches_tracked.fill_(7)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    return path, reference.state_dict()


def test_torchvision_resnet18_state_dict_gives_strict_equal_weights(resnet18_file: Any):
    path, expected = resnet18_file
    graph = archc.build_graph("resnet18")
    model = archc.load("resnet18", seed=1)
    lines: list[str] = []
    report = init_torch(model, graph, str(path), lines.append)
    assert not (report.missing or report.unexpected or report.mismatched or report.skipped)
    assert lines[0] == f"init from {path}: 122 of 122 tensors matched by name"
    state = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    model.load_state_dict(expected, strict=True)


def test_a_timm_state_dict_loads_too(tmp_path: Path):
    timm = pytest.importorskip("timm")
    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "timm_resnet18.pth"
    torch.save({"state_dict": reference.state_dict(), "epoch": 3}, path)  # as timm's train.py checkpoints
    model = archc.load("resnet18", seed=1)
    report = init_torch(model, archc.build_graph("resnet18"), str(path))
    assert len(report.matched) == 122 and not (report.missing or report.unexpected or report.mismatched)
    state = model.state_dict()
    assert list(state) == list(reference.state_dict())
    for key, value in reference.state_dict().items():
        assert torch.equal(state[key], value), key


def test_cli_init_from_with_another_classifier_and_frozen_backbone(resnet18_file: Any, tmp_path: Path, capsys: Any):
    path, expected = resnet18_file
    argv = ["train", "resnet18", "--set", "num_classes=10", "--init-from", str(path), "--freeze", "conv1.*",
            "--freeze", "bn1.*", "--freeze", "layer*", "--subset", "16", "--test-subset", "16", "--batch-size", "16",
            "--epochs", "1", "--device", "cpu", "--threads", "1", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"init from {path}: 120 of 122 tensors matched by name" in out
    assert "note: the classifier has another width; skipped fc.weight [1000, 512] (model [10, 512])" in out
    assert "frozen: 60 of 62 parameter tensors" in out
    (run_dir,) = tmp_path.iterdir()
    trained = load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]
    for key, value in expected.items():
        if not key.startswith("fc."):  # frozen: weights and (BatchNorm in eval mode) statistics unchanged
            assert torch.equal(trained[key], value), key
    assert trained["fc.weight"].shape == (10, 512)
    assert json.loads((run_dir / "config.json").read_text())["train"]["init_from"] == str(path)


def test_init_from_a_run_safetensors_and_keras_weights(tmp_path: Path, capsys: Any):
    source = run(config(tmp_path / "first")).run_dir
    best = load_checkpoint(source / "checkpoints" / "best.pt")["model"]
    files = {"run": source, "safetensors": tmp_path / "w.safetensors", "h5": tmp_path / "w.weights.h5"}
    assert main(["export", str(source), "-o", str(files["safetensors"])]) == 0
    assert main(["weights", "convert", "--from", str(source / "checkpoints" / "best.pt"), "--to",
                 str(files["h5"])]) == 0
    graph = archc.build_graph(SMALL)
    for kind, path in files.items():
        model = archc.load(SMALL, seed=3)
        report = init_torch(model, graph, str(path))
        assert not (report.missing or report.unexpected or report.mismatched), kind
        for key, value in model.state_dict().items():
            if not key.endswith("num_batches_tracked") or kind != "h5":  # Keras keeps no step counter
                assert torch.equal(value, best[key]), (kind, key)


def test_a_file_of_another_network_is_a_clear_error_and_writes_nothing(resnet18_file: Any, tmp_path: Path,
                                                                       capsys: Any):
    path, _ = resnet18_file
    out = tmp_path / "runs"
    assert main(["train", SMALL, "--init-from", str(path), "--out", str(out), "--epochs", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "tensors of another shape (only the classifier may differ)" in err
    assert "conv1.weight: file [64, 3, 7, 7], model [16, 1, 3, 3]" in err
    assert main(["train", SMALL, "--init-from", str(tmp_path / "nothing.pth"), "--out", str(out)]) == 2
    assert "no such file or run folder" in capsys.readouterr().err
    assert main(["train", SMALL, "--freeze", "stem.*", "--out", str(out)]) == 2
    assert "--freeze stem.*: matches no parameter" in capsys.readouterr().err
    assert not out.exists()


def test_grad_clip_bounds_every_step(tmp_path: Path):
    initial = archc.load(TINY, seed=0).state_dict()
    moved = {}
    for clip in (None, 1e-7):
        result = run(config(tmp_path / str(clip), spec=TINY, grad_clip=clip, momentum=0.0))
        trained = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]
        moved[clip] = max(float((trained[k] - initial[k]).abs().max()) for k in initial)
    # 4 SGD steps of lr 0.05 with gradients of norm <= 1e-7 move no weight by more than 2e-8
    assert moved[1e-7] <= 4 * 0.05 * 1e-7 * 1.001 < 1e-3 < moved[None]


def test_ema_is_evaluated_and_checkpointed_beside_the_weights(tmp_path: Path, capsys: Any):
    result = run(config(tmp_path, spec=TINY, epochs=2, ema=0.5))
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all({"ema_test_acc", "ema_test_loss"} <= set(row) for row in rows)
    state = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    assert int(state["ema"]["n_averaged"]) == 8  # every optimizer step of the 2 epochs
    assert not torch.equal(state["ema"]["module.fc.weight"], state["model"]["fc.weight"])
    assert main(["eval", str(result.run_dir), "--checkpoint", "last", "--ema", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["weights"] == "ema"
    assert evaluated["top1"] == pytest.approx(rows[-1]["ema_test_acc"], abs=1e-12)
    assert evaluated["recorded_test_acc"] == rows[-1]["ema_test_acc"]



NORMS = """
archc: 1
name: norms
input: {shape: [8, 5, 5]}
network:
  - {name: stem, conv: {out: 8, kernel: 3}}
  - {name: norm, layernorm: {eps: 1.0e-6}}
  - {name: group, groupnorm: {groups: 4}}
  - {name: pool, global_avgpool: {keepdims: false}}
  - {name: head, layernorm: {}}
  - {name: fc, linear: {out: 3}}
"""


def test_keras_weights_h5_is_read_by_the_ops_declarations(tmp_path: Path):
    """A .weights.h5 names its variables by number only; the ops' tensor declarations say which is which (here
    LayerNorm and GroupNorm too), so a file of the spec's Keras model gives back every tensor exactly."""
    spec = tmp_path / "norms.yaml"
    spec.write_text(NORMS)
    source = archc.load(str(spec), seed=0)
    with torch.no_grad():
        for tensor in source.parameters():
            tensor.normal_()
    torch.save(source.state_dict(), tmp_path / "norms.pt")
    h5 = tmp_path / "norms.weights.h5"
    assert main(["weights", "convert", "--spec", str(spec), "--from", str(tmp_path / "norms.pt"), "--to", str(h5)]) == 0
    model = archc.load(str(spec), seed=1)
    report = init_torch(model, archc.build_graph(str(spec)), str(h5))
    assert len(report.matched) == 10 and not (report.missing or report.unexpected or report.mismatched)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
