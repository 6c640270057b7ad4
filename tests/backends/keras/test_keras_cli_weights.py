"""``archc weights convert``: torch state_dict <-> Keras weights files, by node name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import archc
from archc.cli import main
from archc.transfer import read_state

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")


@pytest.fixture
def checkpoint(tmp_path):
    model = archc.load("resnet20", backend="torch", seed=0)
    with torch.no_grad():
        model.get_submodule("bn1").running_mean.uniform_(-1, 1)
    path = tmp_path / "resnet20.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def test_round_trip(tmp_path, checkpoint, capsys):
    pt, state = checkpoint
    h5, back = tmp_path / "resnet20.weights.h5", tmp_path / "back.pt"
    assert main(["weights", "convert", "--spec", "resnet20", "--from", str(pt), "--to", str(h5)]) == 0
    assert f"wrote {h5}" in capsys.readouterr().out
    model = archc.load("resnet20", backend="keras")
    model.load_weights(h5)
    loaded = read_state(model)
    for key, value in loaded.items():
        np.testing.assert_array_equal(value, state[key].numpy())

    assert main(["weights", "convert", "--spec", "resnet20", "--from", str(h5), "--to", str(back)]) == 0
    restored = torch.load(back, weights_only=True)
    assert list(restored) == list(state)  # the torch backend's order, num_batches_tracked included
    for key, value in state.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(restored[key], value), key
    archc.load("resnet20", backend="torch").load_state_dict(restored, strict=True)


def test_whole_keras_model_file(tmp_path, checkpoint):
    pt, state = checkpoint
    path = tmp_path / "resnet20.keras"
    assert main(["weights", "convert", "--spec", "resnet20", "--from", str(pt), "--to", str(path)]) == 0
    np.testing.assert_array_equal(read_state(keras.saving.load_model(path))["bn1.running_mean"],
                                  state["bn1.running_mean"].numpy())


def test_set_overrides_the_spec(tmp_path):
    pt, h5 = tmp_path / "small.pt", tmp_path / "small.weights.h5"
    torch.save(archc.load("resnet20", backend="torch", num_classes=3).state_dict(), pt)
    argv = ["weights", "convert", "--spec", "resnet20", "--set", "num_classes=3", "--from", str(pt), "--to", str(h5)]
    assert main(argv) == 0


def test_refuses_to_overwrite(tmp_path, checkpoint, capsys):
    pt, _ = checkpoint
    h5 = tmp_path / "resnet20.weights.h5"
    h5.write_text("precious")
    assert main(["weights", "convert", "--spec", "resnet20", "--from", str(pt), "--to", str(h5)]) == 2
    assert "pass --force" in capsys.readouterr().err and h5.read_text() == "precious"
    assert main(["weights", "convert", "--spec", "resnet20", "--from", str(pt), "--to", str(h5), "--force"]) == 0


@pytest.mark.parametrize("problem", ["wrong_spec", "unknown_suffix", "missing_file", "not_a_state_dict"])
def test_errors_exit_2_without_traceback(tmp_path, checkpoint, capsys, problem):
    pt, _ = checkpoint
    spec, source, target = "resnet20", str(pt), str(tmp_path / "out.weights.h5")
    if problem == "wrong_spec":
        spec = "resnet32"
    elif problem == "unknown_suffix":
        target = str(tmp_path / "out.npz")
    elif problem == "missing_file":
        source = str(tmp_path / "absent.pt")
    else:
        source = str(tmp_path / "junk.pt")
        (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["weights", "convert", "--spec", spec, "--from", source, "--to", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archc: error: ") and "Traceback" not in err
    expected = {"wrong_spec": "missing in the source: layer1.3.conv1.weight", "unknown_suffix": "unknown weight format",
                "missing_file": "no such file", "not_a_state_dict": "not a torch state_dict"}[problem]
    assert expected in err


def test_command_line_entry_point(tmp_path, checkpoint):
    pt, _ = checkpoint
    result = subprocess.run([sys.executable, "-m", "archc", "weights", "convert", "--spec", "resnet32", "--from",
                             str(pt), "--to", str(tmp_path / "x.weights.h5")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not fit resnet32" in result.stderr


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_transformer_weights_round_trip_with_the_buffers_keras_computes(tmp_path, suffix):
    """Every transformer op's tensors go torch -> Keras -> torch unchanged; Swin's relative_position_index, a constant
    of the Keras graph, is written back as the torch backend computes it, so the file loads strictly."""
    from pathlib import Path

    spec = str(Path(__file__).parents[2] / "train" / "specs" / "tiny_transformer.yaml")
    model = archc.load(spec, seed=0)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.normal_(generator=torch.Generator().manual_seed(tensor.numel()))
    pt, keras_file, back = tmp_path / "w.pt", tmp_path / f"w{suffix}", tmp_path / "back.pt"
    torch.save(model.state_dict(), pt)
    assert main(["weights", "convert", "--spec", spec, "--from", str(pt), "--to", str(keras_file)]) == 0
    assert main(["weights", "convert", "--spec", spec, "--from", str(keras_file), "--to", str(back)]) == 0
    restored = torch.load(back, weights_only=True)
    assert set(restored) == set(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(restored[key], value), key
    archc.load(spec, seed=1).load_state_dict(restored, strict=True)
