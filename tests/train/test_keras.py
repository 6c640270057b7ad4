"""The Keras path: model.fit for a short epoch writes the same run folder; its checkpoint is a plain .keras file
with archc's state beside the weights; --resume continues it and refuses another spec. Runs in a subprocess (see
keras_flow.py)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SPECS, needs_fashion_mnist, subprocess_env

pytestmark = [needs_fashion_mnist, pytest.mark.skipif(
    importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None,
    reason="keras / tensorflow not installed")]


def test_keras_fit_one_short_epoch_then_resume(tmp_path: Path):
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("keras_flow.py")), str(tmp_path),
                           str(SPECS / "tiny_cnn.yaml")], cwd=ROOT, env=subprocess_env(), capture_output=True,
                          text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    report = json.loads(lines[-1][len("REPORT "):])
    (row,) = report["first"]
    assert row["epoch"] == 1 and row["step"] == 8 and 0.0 <= row["test_acc"] <= 1.0
    folder = Path(report["run_dir"])
    assert {"spec.yaml", "config.json", "metrics.jsonl", "curves.png"} <= {p.name for p in folder.iterdir()}
    assert report["output_shape"] == [None, 10] and report["state_epoch"] == 1
    assert [r["epoch"] for r in report["second"]] == [1, 2] and report["second"][1]["step"] == 16
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert report["mismatch_code"] == 2
    assert "conv1/kernel: checkpoint [3, 3, 1, 8], model [3, 3, 1, 4]" in report["mismatch_err"]
