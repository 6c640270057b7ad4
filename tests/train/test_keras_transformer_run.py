"""A Keras run of a spec with every transformer op (specs/tiny_transformer.yaml: window attention, patch merging,
class token, position embedding, attention, token mean) exports as .keras and as .onnx: the .keras file loads with
safe_mode and computes what the ONNX file computes, which comes from the same trained weights through the torch
build (Keras -> torch transfer). Each step is its own process (TensorFlow and torch apart, as in test_keras.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archc.backends.keras.quiet import NOISE

from .conftest import ROOT, SPECS, needs_fashion_mnist, subprocess_env

pytestmark = [needs_fashion_mnist, pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("keras", "tensorflow", "onnxruntime")),
    reason="keras / tensorflow / onnxruntime not installed")]

CHECK = textwrap.dedent("""
    import sys
    import numpy as np, keras, onnxruntime
    model = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype("float32")
    from_keras = np.asarray(model(x.transpose(0, 2, 3, 1), training=False))
    session = onnxruntime.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
    (from_onnx,) = session.run(None, {session.get_inputs()[0].name: x})
    print("MAX", float(np.abs(from_keras - from_onnx).max()), float(np.abs(from_onnx).max()))
""")


def archc(*args: str, log_level: str = "3") -> subprocess.CompletedProcess:
    env = dict(subprocess_env(), TF_CPP_MIN_LOG_LEVEL=log_level)
    done = subprocess.run([sys.executable, "-m", "archc", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def chatter(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if NOISE.match(line)]


def test_a_keras_transformer_run_exports_as_keras_and_onnx(tmp_path: Path):
    trained = archc("train", str(SPECS / "tiny_transformer.yaml"), "--backend", "keras", "--subset", "128",
                    "--test-subset", "64", "--epochs", "1", "--batch-size", "64", "--out", str(tmp_path / "runs"),
                    log_level="2")  # archc's own default: warnings hidden, errors shown
    # TensorFlow logged an error line per run when its oneDNN transposed the uint8 batches
    assert "oneDNN" not in trained.stderr and not chatter(trained.stderr), trained.stderr
    assert "sgd lr 0.1, cosine schedule, batch 64, 2 steps/epoch, 1 epochs" in trained.stdout  # as torch's run says
    (run_dir,) = (tmp_path / "runs").iterdir()
    converted = archc("weights", "convert", "--from", str(run_dir / "checkpoints" / "best.keras"), "--spec",
                      str(SPECS / "tiny_transformer.yaml"), "-o", str(tmp_path / "best.pt"))
    assert not chatter(converted.stderr), converted.stderr  # it used to import TensorFlow unquieted
    for suffix in ("keras", "onnx"):
        assert "wrote" in archc("export", str(run_dir), "-o", str(tmp_path / f"model.{suffix}")).stdout
    done = subprocess.run([sys.executable, "-c", CHECK, str(tmp_path / "model.keras"), str(tmp_path / "model.onnx")],
                          cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith("MAX ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    difference, scale = float(lines[-1][1]), float(lines[-1][2])
    assert 0 < scale and difference <= 1e-4 * max(1.0, scale)
