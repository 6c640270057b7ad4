"""Optuna's many-machine mode for real: a PostgreSQL server started here (Debian's `postgresql`, on a free local
port, stopped after), and two `archc sweep` worker processes sharing one study through it, as two machines would.
No candidate is trained twice, and both workers take part."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "tests" / "train" / "specs" / "tiny_cnn.yaml")
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
WIDTHS = [4, 5, 6, 7, 8, 16]  # at 200k MACs: 4..8 fit, 16 (480k MACs) does not


def server_binary(name: str) -> str | None:
    """initdb / pg_ctl: on the PATH, or where Debian's postgresql puts them (not on the PATH)."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields its URL. As root, the server runs as the `postgres` user."""
    initdb, pg_ctl = server_binary("initdb"), server_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql; `make install-system`)")
    pytest.importorskip("psycopg")
    folder = Path(tempfile.mkdtemp(prefix="archc-pg-"))  # not under pytest's tmp: the postgres user must enter it
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "archc", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
                        "-t", "60", "start"], check=True, capture_output=True, timeout=90)
        yield f"postgresql://archc@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def worker(tmp: Path, space: Path, url: str, index: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "archc", "sweep", TINY, "--space", str(space), "--trials", str(len(WIDTHS)),
               "--max-macs", "200k", "--sampler", "grid", "--storage", url,
               "--study", "shared", "--out", str(tmp / f"machine{index}"), "--subset", "512", "--test-subset", "128",
               "--epochs", "1", "--batch-size", "64", "--threads", "1", "--device", "cpu", "--no-progress"]
    log = open(tmp / f"machine{index}.log", "w")  # noqa: SIM115 - closed with the process below
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)


@pytest.mark.skipif(not FASHION_MNIST.is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")
def test_two_workers_share_one_study_through_postgresql(tmp_path, postgres):
    space = tmp_path / "space.yaml"
    space.write_text(f"width: {WIDTHS}\n")
    workers = [worker(tmp_path, space, postgres, index) for index in (0, 1)]
    deadline = time.monotonic() + 300
    codes = [proc.wait(timeout=max(1, deadline - time.monotonic())) for proc in workers]
    logs = [(tmp_path / f"machine{i}.log").read_text() for i in (0, 1)]
    assert codes == [0, 0], "\n\n".join(logs)

    study = optuna.load_study(study_name="shared", storage=postgres)
    trials = study.trials
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in trials)
    trained = [t for t in trials if "run" in t.user_attrs]
    widths = [t.params["width"] for t in trained]
    assert sorted(widths) == [4, 5, 6, 7, 8], "a candidate was trained twice, or one was left out"
    assert {t.params["width"] for t in trials if "over_budget" in t.user_attrs} == {16}
    runs = {Path(t.user_attrs["run"]) for t in trained}
    on_disk = {p for i in (0, 1) for p in (tmp_path / f"machine{i}").glob("trial-*")}
    assert runs == on_disk and len(on_disk) == 5  # one run folder per trained trial, on the machine that ran it
    by_machine = [sum(p.parent.name == f"machine{i}" for p in on_disk) for i in (0, 1)]
    assert min(by_machine) >= 1, f"one worker trained everything ({by_machine}):\n" + "\n\n".join(logs)
    for run in runs:
        assert (run / "metrics.jsonl").read_text().count("\n") == 1
