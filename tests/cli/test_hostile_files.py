"""Hostile files: what is already right stays right. Checkpoints load with weights_only=True, .keras files in safe
mode, .npz without pickle, data folders of non-images and expressions in the sandbox: each a one-line refusal, and
the payload never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from archc.cli import main

TINY_SPEC = Path(__file__).resolve().parents[1] / "train" / "specs" / "tiny_cnn.yaml"


class Payload:
    """Unpickling this runs ``touch MARKER`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def run(capsys, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, err


def test_a_pickle_payload_in_a_torch_checkpoint_never_runs(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from archc.train.checkpoint import load_checkpoint
    from archc.train.errors import TrainError

    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"model": Payload(marker)}, evil)
    with pytest.raises(TrainError, match="cannot read the checkpoint"):
        load_checkpoint(evil)
    status, err = run(capsys, "weights", "convert", "--spec", str(TINY_SPEC), "--from", str(evil), "-o",
                      str(tmp_path / "w.weights.h5"))
    assert status == 2 and "not a torch state_dict" in err and "Traceback" not in err
    assert not marker.exists()


def test_npz_with_pickled_objects_is_refused(tmp_path, capsys):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.npz"
    images = np.zeros((4, 28, 28), np.uint8)
    np.savez(evil, x_train=np.array([Payload(marker)], dtype=object), y_train=np.zeros(4), x_test=images,
             y_test=np.zeros(4))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 this is no zip")
    (tmp_path / "plain.npz").write_bytes(pickle.dumps({"x_train": 1}))
    np.save(tmp_path / "single.npy", images)
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    for name, message in [("evil.npz", "cannot read its arrays"), ("garbage.npz", "not an .npz archive"),
                          ("plain.npz", "not an .npz archive"), ("single.npz", "a single .npy array")]:
        status, err = run(capsys, "train", str(TINY_SPEC), "--data", str(tmp_path / name), "--out",
                          str(tmp_path / "runs"), "--device", "cpu")
        assert status == 2 and message in err and "Traceback" not in err, (name, err)
        assert len(err.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_a_folder_of_files_that_are_not_images(tmp_path, capsys):
    pytest.importorskip("PIL")
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for index in range(4):
            (tmp_path / "data" / label / f"{index}.png").write_text("not a png")
    status, err = run(capsys, "train", str(TINY_SPEC), "--data", str(tmp_path / "data"), "--out",
                      str(tmp_path / "runs"), "--device", "cpu", "--batch-size", "2")
    assert status == 2 and "not an image Pillow can read (cannot identify image file)" in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("expression", [
    "${__import__('os').system('touch PWNED')}",
    "${().__class__.__bases__[0].__subclasses__()}",
    "${open('/etc/passwd').read()}",
    "${(lambda: 1)()}",
])
def test_expressions_stay_in_the_sandbox(tmp_path, capsys, monkeypatch, expression):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "s.yaml"
    spec.write_text(f'archc: 1\nname: s\ninput: {{shape: [4]}}\nnetwork:\n  - {{linear: {{out: "{expression}"}}}}\n')
    status, err = run(capsys, "validate", str(spec))
    assert status == 2 and "error" in err and "Traceback" not in err
    assert "root:" not in err and not (tmp_path / "PWNED").exists()


def test_keras_files_load_in_safe_mode(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")  # torch before TensorFlow in one process
    keras = pytest.importorskip("keras")
    marker = tmp_path / "pwned"
    monkeypatch.setenv("ARCHC_PWNED", str(marker))
    payload = keras.layers.Lambda(lambda x: x + float(os.system("touch $ARCHC_PWNED")))
    model = keras.Sequential([keras.Input((4,)), payload])
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    evil = tmp_path / "evil.keras"
    model.save(evil)
    spec = tmp_path / "fc.yaml"
    spec.write_text("archc: 1\nname: fc\ninput: {shape: [4]}\nnetwork:\n  - {name: fc, linear: {out: 2}}\n")
    status, err = run(capsys, "weights", "convert", "--spec", str(spec), "--from", str(evil), "-o",
                      str(tmp_path / "w.pt"))
    assert status == 2 and "cannot read the Keras model" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "w.pt").exists()
