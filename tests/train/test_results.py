"""From a trained run to results: `archc eval` reproduces the recorded accuracy, `archc export` writes files that load
where archc cannot be imported and give the trained outputs, `archc.load(RUN_DIR)` is the trained model in either
backend, `archc weights convert` reads run checkpoints; bad run folders and foreign checkpoints exit 2, writing
nothing. One small residual spec, 2 epochs on a 1,000-image Fashion-MNIST subset (a few seconds)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.cli import main  # noqa: E402
from archc.train import TrainConfig  # noqa: E402
from archc.train.checkpoint import load_checkpoint  # noqa: E402
from archc.train.runner import run  # noqa: E402

from .conftest import SPECS, needs_fashion_mnist  # noqa: E402

pytestmark = needs_fashion_mnist

SMALL = str(SPECS / "small_resnet.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = run(TrainConfig(spec=SMALL, data="fashion-mnist", subset=1000, test_subset=500, epochs=2, batch_size=50,
                             optimizer="adam", lr=3e-3, weight_decay=0.0, device="cpu", threads=1, progress=False,
                             out=str(out)))
    assert result.run_dir is not None
    return result.run_dir


def checkpoint_model(run_dir: Path, which: str) -> Any:
    model = archc.load(SMALL, backend="torch")
    model.load_state_dict(load_checkpoint(run_dir / "checkpoints" / f"{which}.pt")["model"])
    return model.eval()


def sample_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("which", ["best", "last"])
def test_eval_reproduces_the_recorded_accuracy(trained: Path, which: str, capsys: Any):
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    expected = rows[-1] if which == "last" else max(rows, key=lambda row: row["test_acc"])
    assert main(["eval", str(trained), "--checkpoint", which, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 500
    assert result["top1"] == pytest.approx(expected["test_acc"], abs=1e-12)
    assert result["recorded_test_acc"] == expected["test_acc"]
    assert result["loss"] == pytest.approx(expected["test_loss"], rel=1e-4)
    assert result["top1"] <= result["top5"] <= 1.0
    assert sum(row["samples"] for row in result["per_class"]) == 500
    assert np.trace(np.asarray(result["confusion"])) == round(result["top1"] * 500)
    assert [row["name"] for row in result["per_class"]][:2] == ["T-shirt/top", "Trouser"]
    assert Path(result["confusion_png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_not_a_run_folder_is_a_clear_error(tmp_path: Path, capsys: Any):
    (tmp_path / "notes.txt").write_text("hello")
    for command in (["eval", str(tmp_path)], ["export", str(tmp_path), "-o", str(tmp_path / "m.pt2")]):
        assert main(command) == 2
        assert "not a run folder of `archc train` (no config.json)" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_checkpoint_of_another_spec_is_a_clear_error(trained: Path, tmp_path: Path, capsys: Any):
    other = tmp_path / "other"
    shutil.copytree(trained, other, ignore=shutil.ignore_patterns("eval"))
    spec = (other / "spec.yaml").read_text()
    (other / "spec.yaml").write_text(spec.replace("width: 16", "width: 8"))
    before = folder_files(other)
    for command in (["eval", str(other)], ["export", str(other), "-o", str(tmp_path / "m.onnx")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "was saved from spec 'small_resnet'" in err and "conv1.weight: checkpoint [16, 1, 3, 3]" in err
        assert "params.width: 16 -> 8" in err
    assert folder_files(other) == before and not (tmp_path / "m.onnx").exists()


def test_load_run_gives_the_trained_model_in_both_backends(trained: Path):
    x = sample_input()
    expected = checkpoint_model(trained, "last")(torch.from_numpy(x)).detach().numpy()
    model = archc.load(str(trained), checkpoint="last")
    assert not model.training
    np.testing.assert_array_equal(model(torch.from_numpy(x)).detach().numpy(), expected)
    keras_model = archc.load(trained, backend="keras", checkpoint="last")
    np.testing.assert_allclose(np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False)), expected,
                               rtol=1e-5, atol=1e-5)


# A process in which `import archc` fails: -I drops PYTHONPATH and the current folder, and a meta-path finder
# refuses archc (installed editable, it would otherwise be found through site-packages).
NO_ARCHC = """
import sys, importlib.abc
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "archc" or name.startswith("archc."):
            raise ImportError("archc is not installed here")
sys.meta_path.insert(0, Refuse())
try:
    import archc
    raise SystemExit("archc imported")
except ImportError:
    pass
import json
import numpy as np
import torch
folder = sys.argv[1]
x = np.load(folder + "/x.npy")
outputs = {}
outputs["pt2"] = torch.export.load(folder + "/model.pt2").module()(torch.from_numpy(x)).detach().numpy()
import onnxruntime
session = onnxruntime.InferenceSession(folder + "/model.onnx", providers=["CPUExecutionProvider"])
outputs["onnx"] = session.run(None, {session.get_inputs()[0].name: x})[0]
from safetensors.torch import load_file
program = torch.export.load(folder + "/model.pt2").module()
state = load_file(folder + "/model.safetensors")
program.load_state_dict(state, strict=True)  # the safetensors weights in an archc-free module
outputs["safetensors"] = program(torch.from_numpy(x)).detach().numpy()
import keras
outputs["keras"] = np.asarray(keras.saving.load_model(folder + "/model.keras")(x.transpose(0, 2, 3, 1), training=False))
np.savez(folder + "/outputs.npz", **outputs)
print(json.dumps(sorted(state)))
"""


def test_export_loads_without_archc_and_gives_the_trained_outputs(trained: Path, tmp_path: Path, capsys: Any):
    x = sample_input()
    np.save(tmp_path / "x.npy", x)
    reference = checkpoint_model(trained, "best")
    expected = reference(torch.from_numpy(x)).detach().numpy()
    for suffix in ("pt2", "onnx", "keras", "safetensors"):
        assert main(["export", str(trained), "-o", str(tmp_path / f"model.{suffix}")]) == 0
        assert f"wrote {tmp_path / f'model.{suffix}'}" in capsys.readouterr().out
    assert main(["export", str(trained), "-o", str(tmp_path / "model.pt2")]) == 2  # exists: --force
    assert "exists; pass --force" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-I", "-c", NO_ARCHC, str(tmp_path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == sorted(reference.state_dict())
    outputs = np.load(tmp_path / "outputs.npz")
    assert sorted(outputs.files) == ["keras", "onnx", "pt2", "safetensors"]
    for name in outputs.files:
        np.testing.assert_allclose(outputs[name], expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_export_refuses_an_unknown_suffix(trained: Path, tmp_path: Path, capsys: Any):
    assert main(["export", str(trained), "-o", str(tmp_path / "model.bin")]) == 2
    assert "use one of .pt2, .onnx, .keras, .safetensors" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_weights_convert_reads_a_run_checkpoint(trained: Path, tmp_path: Path, capsys: Any):
    target = tmp_path / "small.weights.h5"
    assert main(["weights", "convert", "--from", str(trained / "checkpoints" / "last.pt"), "--to", str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    keras_model = archc.load(SMALL, backend="keras")
    keras_model.load_weights(target)
    x = sample_input()
    expected = checkpoint_model(trained, "last")(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False)), expected,
                               rtol=1e-5, atol=1e-5)


def test_weights_convert_reads_and_writes_safetensors(trained: Path, tmp_path: Path):
    from safetensors.torch import load_file

    exported, h5, back = tmp_path / "m.safetensors", tmp_path / "m.weights.h5", tmp_path / "back.safetensors"
    assert main(["export", str(trained), "-o", str(exported)]) == 0
    assert main(["weights", "convert", "--spec", SMALL, "--from", str(exported), "--to", str(h5)]) == 0
    assert main(["weights", "convert", "--spec", SMALL, "--from", str(h5), "--to", str(back)]) == 0
    original, restored = load_file(str(exported)), load_file(str(back))
    assert list(restored) == list(original)
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):  # Keras keeps no step counter
            assert torch.equal(restored[key], value), key


def test_runs_lists_the_runs_with_exact_costs(trained: Path, tmp_path: Path, capsys: Any):
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert main(["runs", str(trained.parent), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    summary = archc.summarize(SMALL)
    assert (row["name"], row["spec"], row["params"], row["macs"]) == (trained.name, "small_resnet", summary.params,
                                                                       summary.macs)
    assert (row["epochs"], row["epochs_planned"]) == (2, 2)
    assert row["best_test_acc"] == max(r["test_acc"] for r in rows) and row["last_test_acc"] == rows[-1]["test_acc"]
    assert row["images_per_s"] == pytest.approx(sum(r["images_per_s"] for r in rows) / 2)
    assert row["wall_time_s"] >= row["train_time_s"] == pytest.approx(sum(r["epoch_time_s"] for r in rows))
    assert main(["runs", str(trained.parent)]) == 0
    assert trained.name in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_compare_plots_runs_on_shared_axes(trained: Path, tmp_path: Path, capsys: Any):
    other = tmp_path / "copy" / "small_resnet-copy"
    shutil.copytree(trained, other)
    output = tmp_path / "compare.png"
    assert main(["compare", str(trained), str(other), "-o", str(output), "--json"]) == 0
    out = capsys.readouterr().out
    assert [row["name"] for row in json.loads(out[:out.rindex("]") + 1])] == [trained.name, other.name]
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", str(trained), str(tmp_path / "copy"), "-o", str(tmp_path / "bad.png")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["compare", str(trained), "-o", str(output)]) == 2  # exists
    assert not (tmp_path / "bad.png").exists()


def test_predict_names_the_top_classes_of_image_files(trained: Path, tmp_path: Path, capsys: Any):
    from PIL import Image

    from archc.train.data import read_idx

    images = read_idx(Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))[:6]
    paths = []
    for index, image in enumerate(images):
        paths.append(tmp_path / f"image{index}.png")
        Image.fromarray(image).save(paths[-1])
    assert main(["predict", str(trained), *map(str, paths), "--top", "3", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    config = json.loads((trained / "config.json").read_text())["data"]
    x = (torch.from_numpy(images[:, None].astype(np.float32)) / 255.0 - config["mean"][0]) / config["std"][0]
    expected = torch.softmax(checkpoint_model(trained, "best")(x), dim=1).detach().numpy()
    for result, row, path in zip(results, expected, paths):
        assert result["image"] == str(path) and len(result["top"]) == 3
        assert [t["class"] for t in result["top"]] == list(np.argsort(-row)[:3])
        assert [t["probability"] for t in result["top"]] == pytest.approx(sorted(row)[::-1][:3], abs=1e-5)
        assert result["top"][0]["name"] == config["classes"][result["top"][0]["class"]]
    assert main(["predict", str(trained), str(tmp_path / "missing.png")]) == 2
    assert "no such image file" in capsys.readouterr().err


def test_export_optimize_folds_the_trained_model(trained: Path, tmp_path: Path, capsys: Any):
    """--optimize: BatchNorm folded into the convs with the trained (non-trivial) statistics, same outputs."""
    import onnx
    import onnxruntime

    x = sample_input()
    expected = checkpoint_model(trained, "best")(torch.from_numpy(x)).detach().numpy()
    path = tmp_path / "folded.onnx"
    assert main(["export", str(trained), "-o", str(path), "--optimize"]) == 0
    assert "BatchNormalization" not in {node.op_type for node in onnx.load(str(path)).graph.node}
    actual = onnxruntime.InferenceSession(str(path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert main(["export", str(trained), "-o", str(tmp_path / "folded.safetensors"), "--optimize"]) == 2
    assert "folded weights would not load" in capsys.readouterr().err
