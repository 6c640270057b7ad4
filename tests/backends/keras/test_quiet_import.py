"""A Keras command's stderr carries no TensorFlow start-up INFO lines, and keeps everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from archc.backends.keras.quiet import NOISE

SPEC = Path(__file__).resolve().parents[2] / "train" / "specs" / "tiny_cnn.yaml"


def test_keras_compile_prints_no_tensorflow_chatter(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    out = tmp_path / "tiny.keras"
    done = subprocess.run([sys.executable, "-m", "archc", "compile", str(SPEC), "--backend", "keras", "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert "absl::InitializeLog" not in done.stderr and "oneDNN custom operations" not in done.stderr
    assert not [line for line in done.stderr.splitlines() if NOISE.match(line)]


def test_only_info_lines_are_dropped():
    info = ("I0000 00:00:1796124590.698719   31832 port.cc:153] oneDNN custom operations are on.",
            "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    kept = ("W0000 00:00:1796124590.698719   31832 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
            "E0000 00:00:1796124590.1 31832 cuda_dnn.cc:8310] Unable to register cuDNN factory",
            "Traceback (most recent call last):", "I am a line a user printed")
    assert all(NOISE.match(line) for line in info)
    assert not any(NOISE.match(line) for line in kept)
