"""kill -9 in the middle of training, then --resume: no checkpoint is ever torn, and the resumed run ends with the
configured number of epochs and intact checkpoints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from archc.train.checkpoint import load_checkpoint  # noqa: E402

from .conftest import ROOT, SPECS, needs_fashion_mnist, subprocess_env  # noqa: E402

pytestmark = needs_fashion_mnist

EPOCHS = 3


def train_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "archc", "train", *extra, "--no-progress", "--threads", "1", "--device", "cpu"]


def test_kill_9_then_resume(tmp_path: Path):
    command = train_command(str(SPECS / "tiny_cnn.yaml"), "--data", "fashion-mnist", "--subset", "2048",
                            "--test-subset", "512", "--epochs", str(EPOCHS), "--batch-size", "32",
                            "--checkpoint-every", "3", "--out", str(tmp_path))
    process = subprocess.Popen(command, cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        checkpoint = None
        while time.monotonic() < deadline and process.poll() is None:
            found = list(tmp_path.glob("*/checkpoints/last.pt"))
            if found:
                checkpoint = found[0]
                break
            time.sleep(0.05)
        assert checkpoint is not None, f"no checkpoint appeared:\n{process.communicate()[0]}"
        time.sleep(0.4)  # checkpoints every 3 steps: the kill may well land in the middle of writing one
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    run_dir = checkpoint.parent.parent
    state = load_checkpoint(checkpoint)  # intact, whatever the kill interrupted
    killed_at = (state["progress"]["epoch"], state["progress"]["step_in_epoch"])
    assert killed_at < (EPOCHS, 0), "the run finished before the kill; nothing was tested"

    resumed = subprocess.run(train_command("--resume", str(run_dir)), cwd=ROOT, env=subprocess_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed from" in resumed.stdout
    final = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert final["progress"]["epoch"] == EPOCHS and final["progress"]["step_in_epoch"] == 0
    assert load_checkpoint(run_dir / "checkpoints" / "best.pt")["progress"]["epoch"] >= 1
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == list(range(1, EPOCHS + 1))
    assert [row["epoch"] for row in final["progress"]["history"]] == list(range(1, EPOCHS + 1))
    assert not list(run_dir.rglob(".*.tmp-*")), "temporary files left behind"
