"""Training hardening: options checked before a run folder exists, --name confined to --out, one process per run
folder (a lock), --resume --epochs below the epochs done refused, Ctrl-C checkpoints and prints the --resume command,
garbage in a run folder is one line, and the lr of metrics.jsonl is that of the epoch's last step."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from archc.cli import main  # noqa: E402
from archc.train import TrainConfig  # noqa: E402
from archc.train.checkpoint import load_checkpoint  # noqa: E402
from archc.train.rundir import read_metrics  # noqa: E402
from archc.train.runner import run  # noqa: E402
from archc.train.schedule import Schedule  # noqa: E402

from .conftest import ROOT, SPECS, subprocess_env  # noqa: E402

TINY = str(SPECS / "tiny_cnn.yaml")
QUICK = ["--data", "synthetic", "--subset", "64", "--test-subset", "32", "--batch-size", "16", "--no-progress",
         "--threads", "1"]


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-epoch run to resume, copy and spoil."""
    out = tmp_path_factory.mktemp("runs")
    result = run(TrainConfig(spec=TINY, data="synthetic", subset=64, test_subset=32, batch_size=16, epochs=2,
                             progress=False, threads=1, device="cpu", out=str(out), schedule="cosine", lr=0.05))
    return result.run_dir


@pytest.mark.parametrize(("flags", "message"), [
    (["--momentum", "-1"], "--momentum must be in [0, 1), got -1.0"),
    (["--threads", "-1"], "--threads must be positive, got -1"),
    (["--workers", "-2"], "--workers must be >= 0, got -2"),
    (["--lr", "nan"], "--lr must be a finite number, got nan"),
    (["--weight-decay", "inf"], "--weight-decay must be a finite number, got inf"),
    (["--gamma", "0"], "--gamma must be positive, got 0.0"),
    (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "cuda:99"], "--device cuda"),
    (["--batch-size", "128"], "the training split has 64 samples, fewer than one batch of 128"),
    (["--max-params", "100"], "node 'block.conv' has 584 parameters and buffers"),
    (["--name", "../escape"], "a run name is one folder name"),
    (["--name", "/tmp/escape"], "a run name is one folder name"),
    (["--name", "a/b"], "a run name is one folder name"),
    (["--backend", "keras", "--checkpoint-every", "5"], "--checkpoint-every is not available with --backend keras"),
])
def test_bad_options_are_refused_before_a_run_folder_exists(tmp_path, capsys, flags, message):
    out = tmp_path / "runs"
    device = [] if "--device" in flags else ["--device", "cpu"]
    status, _, err = cli(capsys, "train", TINY, *QUICK, *device, *flags, "--out", str(out))
    assert status == 2 and message in err, err
    assert "Traceback" not in err
    assert not out.exists(), "a run folder was made for a run that could not start"
    assert not (tmp_path / "escape").exists() and not Path("/tmp/escape").exists()


def test_resume_below_the_epochs_done_is_an_error(finished, capsys):
    before = (finished / "metrics.jsonl").read_text()
    status, _, err = cli(capsys, "train", "--resume", str(finished), "--epochs", "1")
    assert status == 2 and "2 epochs are done already, more than --epochs 1" in err
    assert (finished / "metrics.jsonl").read_text() == before


def test_a_second_process_on_the_same_run_folder_is_refused(finished, capsys):
    script = (f"import time\nfrom archc.train.rundir import RunDir\nrun = RunDir({str(finished)!r})\nrun.lock()\n"
              "print('locked', flush=True)\ntime.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = (finished / "metrics.jsonl").read_text()
        status, _, err = cli(capsys, "train", "--resume", str(finished), "--epochs", "3")
        assert status == 2
        assert f"{finished} is in use by another `archc train` (process {holder.pid})" in err
        assert (finished / "metrics.jsonl").read_text() == before
    finally:
        holder.kill()
        holder.wait()
    status, _, err = cli(capsys, "train", "--resume", str(finished), "--epochs", "2")  # the lock went with it
    assert status == 0, err


def interrupt(tmp_path: Path, *extra: str, after: str = "run folder") -> str:
    """Start `archc train` in a real process, press Ctrl-C (SIGINT) once it has printed ``after``; its stderr."""
    log = tmp_path / "log.txt"
    command = [sys.executable, "-m", "archc", "train", TINY, "--data", "synthetic", "--subset", "8000",
               "--test-subset", "64", "--batch-size", "4", "--epochs", "40", "--no-progress", "--device", "cpu",
               "--out", str(tmp_path / "runs"), *extra]
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=subprocess_env(), stdout=handle, stderr=subprocess.PIPE,
                                   text=True)
    try:
        deadline = time.monotonic() + 180
        while after not in log.read_text() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    return err


@pytest.mark.slow  # TensorFlow's import and a Keras epoch: about 30 s on 2 cores
def test_ctrl_c_with_keras_stops_at_the_last_epochs_checkpoint(tmp_path):
    err = interrupt(tmp_path, "--backend", "keras", after="epoch 1/40")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"continue with: archc train --resume {run_dir}" in err and "Traceback" not in err
    assert "interrupted in epoch 2;" in err and (run_dir / "checkpoints" / "last.keras").is_file()
    assert [row["epoch"] for row in read_metrics(run_dir / "metrics.jsonl")] == [1]


def test_ctrl_c_checkpoints_and_prints_the_resume_command(tmp_path):
    err = interrupt(tmp_path, "--threads", "1")
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"continue with: archc train --resume {run_dir}" in err and "Traceback" not in err
    progress = load_checkpoint(run_dir / "checkpoints" / "last.pt")["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) > (0, 0)
    assert f"interrupted after {progress['epoch']} epoch(s)" in err
    rows = read_metrics(run_dir / "metrics.jsonl")  # no file while the first epoch is not done
    assert [row["epoch"] for row in rows] == list(range(1, progress["epoch"] + 1))


@pytest.mark.parametrize(("name", "text", "message"), [
    ("spec.yaml", "network: [relu\n", "spec.yaml: not a spec written by `archc train` (cannot read it as YAML"),
    ("spec.yaml", "- just\n- a list\n", "spec.yaml: not a spec written by `archc train` (not a mapping)"),
    ("config.json", "{not json", "config.json: not valid JSON"),
    ("config.json", "[1, 2]", "config.json: not a config.json of `archc train`"),
    ("config.json", '{"train": {"epochs": "many"}}', "--epochs must be a whole number, got 'many'"),
])
def test_garbage_in_a_run_folder_is_one_line(finished, tmp_path, capsys, name, text, message):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    (copy / name).write_text(text)
    status, _, err = cli(capsys, "train", "--resume", str(copy), "--epochs", "3")
    assert status == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_metrics_lr_is_the_lr_of_the_epochs_last_step(finished):
    rows = [json.loads(line) for line in (finished / "metrics.jsonl").read_text().splitlines()]
    schedule = Schedule("cosine", 0.05, 4, 2)
    assert [row["lr"] for row in rows] == [schedule.lr(row["step"] - 1) for row in rows] == \
        [schedule.lr(3), schedule.lr(7)]


def test_train_json_prints_the_result(tmp_path, capsys):
    status, out, err = cli(capsys, "train", TINY, *QUICK, "--device", "cpu", "--epochs", "1", "--out", str(tmp_path),
                           "--json")
    assert status == 0, err
    data = json.loads(out)
    (run_dir,) = tmp_path.iterdir()
    assert data["run_dir"] == str(run_dir) and data["epochs"] == 1
    assert data["last"] == data["best"] and data["last"]["epoch"] == 1
