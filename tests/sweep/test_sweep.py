"""`archc sweep` on the tiny spec of the training tests and a small Fashion-MNIST subset: the budget is checked with
archc's exact counts before any training, only feasible candidates are trained (each an ordinary run folder), the
study reads back with ``optuna.load_study``, a rerun continues it, and bad input is a located error (exit 2) that
writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archc
from archc.cli import main

optuna = pytest.importorskip("optuna")

SPECS = Path(__file__).resolve().parents[1] / "train" / "specs"
needs_fashion_mnist = pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
                                         .is_file(), reason="Fashion-MNIST not installed (dataset-fashion-mnist)")

TINY = str(SPECS / "tiny_cnn.yaml")
#: 1 epoch over 256 images: about a second of training per trial on one thread
TRAIN = ["--subset", "256", "--test-subset", "128", "--epochs", "1", "--batch-size", "64", "--threads", "1",
         "--device", "cpu", "--no-progress"]
WIDTHS = [4, 8, 16, 32]
BUDGET = 200_000  # MACs: widths 4 and 8 fit (35,320 and 127,088), 16 and 32 do not


def macs(width: int) -> int:
    return archc.summarize(TINY, width=width).macs


def write_space(folder: Path, text: str) -> str:
    path = folder / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def sweep_args(space: str, out: Path, *extra: str) -> list[str]:
    return ["sweep", TINY, "--space", space, "--out", str(out), *extra, *TRAIN]


def test_budget_splits_the_widths():
    """The test's premise, from the static counts themselves."""
    assert [macs(w) <= BUDGET for w in WIDTHS] == [True, True, False, False]


@needs_fashion_mnist
def test_four_trials_under_a_mac_budget_train_only_the_feasible(tmp_path, capsys):
    pytest.importorskip("torch")
    space = write_space(tmp_path, f"width: {WIDTHS}\n")
    out = tmp_path / "widths"
    args = sweep_args(space, out, "--trials", "4", "--max-macs", str(BUDGET), "--sampler", "grid",
                      "--sampler-seed", "0")
    assert main(args) == 0
    study = optuna.load_study(study_name="widths", storage=f"sqlite:///{out / 'study.db'}")
    trials = {t.params["width"]: t for t in study.trials}
    assert sorted(trials) == WIDTHS
    for width, trial in trials.items():
        assert trial.user_attrs["macs"] == macs(width)
        assert trial.user_attrs["params"] == archc.summarize(TINY, width=width).params
        feasible = macs(width) <= BUDGET
        assert trial.state == (optuna.trial.TrialState.COMPLETE if feasible else optuna.trial.TrialState.PRUNED)
        if feasible:
            run = Path(trial.user_attrs["run"])
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            assert trial.value == rows[-1]["test_acc"] == trial.user_attrs["test_acc"]
            assert archc.parse(str(run / "spec.yaml")).params["width"] == width
        else:
            assert "run" not in trial.user_attrs and trial.user_attrs["over_budget"].endswith("MACs > 200k")
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(runs) == 2 and all(name.startswith("trial-") for name in runs)  # the pruned ones were never trained
    assert (out / "sweep.png").stat().st_size > 0 and (out / "sweep.json").is_file()
    printed = capsys.readouterr().out
    assert "over budget, pruned (not trained)" in printed and "Pareto front" in printed
    # the trials are ordinary runs: `archc runs` lists them with the sweep's counts and accuracies
    assert main(["runs", str(out), "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert sorted(listed) == runs
    for trial in (t for t in trials.values() if "run" in t.user_attrs):
        row = listed[Path(trial.user_attrs["run"]).name]
        assert (row["macs"], row["last_test_acc"]) == (trial.user_attrs["macs"], trial.value)

    # the same command again: the study is complete, nothing is trained again
    assert main(args) == 0
    assert len(optuna.load_study(study_name="widths", storage=f"sqlite:///{out / 'study.db'}").trials) == 4
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == runs
    # another sweep into the same folder is refused, not mixed in
    assert main(sweep_args(space, out, "--trials", "4", "--max-macs", "300k", "--sampler", "grid")) == 2
    assert "is another sweep (budget.max_macs: 200000 in the study, 300000 now)" in capsys.readouterr().err


@needs_fashion_mnist
def test_accuracy_and_macs_with_ranges_and_a_training_option(tmp_path):
    """Two objectives (a Pareto front) with the default sampler (TPE), an integer range of a spec param and a log
    range of the learning rate."""
    pytest.importorskip("torch")
    space = write_space(tmp_path, "width: {low: 4, high: 6, step: 2}\nlr: {low: 1.0e-3, high: 1.0e-1, log: true}\n")
    out = tmp_path / "pareto"
    assert main(sweep_args(space, out, "--trials", "3", "--objective", "accuracy,macs", "--sampler-seed", "3")) == 0
    study = optuna.load_study(study_name="pareto", storage=f"sqlite:///{out / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    for trial in complete:
        assert trial.params["width"] in (4, 6) and 1e-3 <= trial.params["lr"] <= 1e-1
        assert trial.values[1] == macs(trial.params["width"])
        config = json.loads((Path(trial.user_attrs["run"]) / "config.json").read_text())
        assert config["train"]["lr"] == trial.params["lr"]
    assert study.best_trials


@needs_fashion_mnist
def test_each_trial_a_torchrun_ddp_job(tmp_path, capfd):
    """--launcher runs `LAUNCHER -m archc train ...` per trial: here a 2-process gloo DDP job of torchrun."""
    pytest.importorskip("torch")
    import shlex
    import sys

    space = write_space(tmp_path, "width: [4, 32]\n")
    out = tmp_path / "launched"
    launcher = f"{shlex.quote(sys.executable)} -m torch.distributed.run --standalone --nproc-per-node 2"
    assert main(sweep_args(space, out, "--trials", "2", "--max-macs", str(BUDGET), "--sampler", "grid",
                           "--launcher", launcher)) == 0
    assert "DDP over 2 processes (gloo)" in capfd.readouterr().out
    study = optuna.load_study(study_name="launched", storage=f"sqlite:///{out / 'study.db'}")
    states = {t.params["width"]: t.state.name for t in study.trials}
    assert states == {4: "COMPLETE", 32: "PRUNED"}
    trained = next(t for t in study.trials if t.params["width"] == 4)
    run = Path(trained.user_attrs["run"])
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["overrides"] == ["width=4"] and config["train"]["subset"] == 256
    assert trained.value == json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["test_acc"]
    assert [p.name for p in out.glob("trial-*")] == [run.name]  # only rank 0 wrote a run folder


# ---------------------------------------------------------------------------------------- bad input: exit 2, no files
def refused(tmp_path: Path, capsys, space_text: str, *extra: str) -> str:
    space = write_space(tmp_path, space_text)
    out = tmp_path / "never"
    assert main(sweep_args(space, out, "--trials", "2", *extra)) == 2
    assert not out.exists()
    return capsys.readouterr().err


def test_a_param_the_spec_does_not_declare(tmp_path, capsys):
    err = refused(tmp_path, capsys, "width: [4, 8]\nwidht: [1]\n")
    assert "space.yaml:2:1: error: 'widht' is neither a param of the spec nor a training option" in err
    assert "did you mean 'width'?" in err


def test_malformed_space_files(tmp_path, capsys):
    err = refused(tmp_path, capsys, "width: {low: 8, hihg: 4}\nlr: [0.1, 0.1]\nbatch_size: {low: 16.5, high: 64}\n"
                                    "drop: 0.5\nmomentum: {low: 0, high: 1, log: true}\n")
    assert "space.yaml:1:17: error: 'width': unknown range key 'hihg' (hint: did you mean 'high'?)" in err
    assert "space.yaml:1:8: error: 'width': a range needs 'high'" in err
    assert "space.yaml:2:11: error: 'lr': the choice 0.1 is listed twice" in err
    assert "space.yaml:3:13: error: 'batch_size': takes int values (write low and high as integers)" in err
    assert "space.yaml:4:7: error: 'drop': give a list of choices" in err
    assert "'momentum': a log range needs low > 0, got 0" in err
    assert "6 errors" in err
    assert "not a mapping" not in refused(tmp_path, capsys, "- 1\n")  # the message says what a space is
    assert "a space is a YAML mapping" in refused(tmp_path, capsys, "[1, 2]\n")


def test_space_and_set_name_the_same_param(tmp_path, capsys):
    err = refused(tmp_path, capsys, "width: [4, 8]\n", "--set", "width=4")
    assert "'width' is both in the space and set with --set" in err


@needs_fashion_mnist
def test_a_budget_no_candidate_meets(tmp_path, capsys):
    err = refused(tmp_path, capsys, "width: [8, 16]\ndrop: [0.0, 0.2]\n", "--max-macs", "100k")
    assert ("no candidate meets the budget of 100k MACs: none of the 4 candidates of the space does; the cheapest, "
            "width=8 drop=0.0, has 127k MACs and 754 params") in err
    # a range too long to list: its corners are priced
    err = refused(tmp_path, capsys, "width: {low: 8, high: 400}\n", "--max-params", "500")
    assert "none of the 2 corners of the space" in err and "the cheapest, width=8, has 127k MACs and 754 params" in err


@needs_fashion_mnist
def test_fewer_outputs_than_classes(tmp_path, capsys):
    err = refused(tmp_path, capsys, "width: [4, 8]\n", "--set", "num_classes=5")
    assert "spec 'tiny_cnn' has 5 outputs but fashion-mnist has 10 classes" in err


def test_bad_budget_and_options(tmp_path, capsys):
    assert "--max-macs takes a count such as" in refused(tmp_path, capsys, "width: [4]\n", "--max-macs", "lots")
    assert "--trials must be positive" in refused(tmp_path, capsys, "width: [4]\n", "--trials", "0")
    assert "takes int values, got 'big'" in refused(tmp_path, capsys, "batch_size: [32, big]\n")
    assert "--sampler grid needs a space of choices" in refused(tmp_path, capsys, "lr: {low: 0.01, high: 0.1}\n",
                                                                 "--sampler", "grid")


@needs_fashion_mnist
def test_an_unreachable_storage(tmp_path, capsys):
    pytest.importorskip("psycopg")
    err = refused(tmp_path, capsys, "width: [4, 8]\n", "--storage", "postgresql://archc:secret@127.0.0.1:1/sweeps")
    assert "cannot reach the storage postgresql://archc:***@127.0.0.1:1/sweeps" in err and "secret" not in err
    err = refused(tmp_path, capsys, "width: [4, 8]\n", "--storage", "nosuchdb://x")
    assert "cannot reach the storage nosuchdb://x" in err


@needs_fashion_mnist
def test_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    space = write_space(tmp_path, "width: [4, 8]\n")
    out = tmp_path / "papers"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(sweep_args(space, out, "--trials", "2")) == 2
    assert "exists and is not a sweep folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@needs_fashion_mnist
def test_an_interrupted_trial_resumes_on_the_next_run(tmp_path):
    """Ctrl-C in the middle of a trial's training: the trial is failed and marked; running the sweep again queues its
    candidate again, and the new trial resumes the old run folder from its checkpoint instead of starting over."""
    pytest.importorskip("torch")
    import os
    import signal
    import subprocess
    import sys
    import time

    space = write_space(tmp_path, "width: [8]\n")
    out = tmp_path / "interrupted"
    args = ["sweep", str(SPECS / "small_resnet.yaml"), "--space", space, "--out", str(out), "--trials", "1",
            "--subset", "1024", "--test-subset", "128", "--epochs", "2", "--batch-size", "32", "--threads", "1",
            "--device", "cpu", "--no-progress", "--checkpoint-every", "4"]
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "archc", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("trial-0000-*/checkpoints/last.pt")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    study = optuna.load_study(study_name="interrupted", storage=f"sqlite:///{out / 'study.db'}")
    first = study.trials[0]
    assert first.state == optuna.trial.TrialState.FAIL and first.user_attrs["interrupted"] is True
    run = next(out.glob("trial-0000-*"))

    assert main(args) == 0
    study = optuna.load_study(study_name="interrupted", storage=f"sqlite:///{out / 'study.db'}")
    second = study.trials[1]
    assert second.state == optuna.trial.TrialState.COMPLETE and second.params == {"width": 8}
    assert second.system_attrs["retry_history"] == [0] and Path(second.user_attrs["run"]) == run.resolve()
    config = json.loads((run / "config.json").read_text())
    assert len(config["resumed"]) == 1  # continued, not started over
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert [p.name for p in out.glob("trial-*")] == [run.name]  # no second run folder


@needs_fashion_mnist
def test_a_keras_sweep(tmp_path):
    """--backend keras: the trials are trained by model.fit (in a subprocess: TensorFlow after torch in one process
    crashes, see tests/train/test_keras.py)."""
    pytest.importorskip("keras")
    import os
    import subprocess
    import sys

    space = write_space(tmp_path, "width: [4, 32]\n")
    out = tmp_path / "keras"
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = sweep_args(space, out, "--trials", "2", "--max-macs", str(BUDGET), "--sampler", "grid", "--backend", "keras")
    del args[args.index("--threads"):args.index("--threads") + 2]  # a torch option
    done = subprocess.run([sys.executable, "-m", "archc", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="keras", storage=f"sqlite:///{out / 'study.db'}")
    assert {t.params["width"]: t.state.name for t in study.trials} == {4: "COMPLETE", 32: "PRUNED"}
    run = Path(next(t for t in study.trials if t.state.name == "COMPLETE").user_attrs["run"])
    assert (run / "checkpoints" / "last.keras").is_file()
    assert json.loads((run / "config.json").read_text())["train"]["backend"] == "keras"
