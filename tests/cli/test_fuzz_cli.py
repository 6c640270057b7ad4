"""Fuzzing the command line: random (often broken) specs with random commands and flags. Whatever comes in, the
exit status is 0 or 2, no traceback is printed, and no file appears outside the output folder named on the command
line. In-process through archc.cli.main, plus a few real `python -m archc` runs. ARCHC_FUZZ_EXAMPLES raises the
count for a longer hunt."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archc.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "40"))

OP_NAMES = ["conv", "bn", "relu", "maxpool", "global_avgpool", "flatten", "linear", "dropout", "add", "concat",
            "ReLU", "Conv2d", "drop_path", "residual"]
ARG_NAMES = ["out", "kernel", "stride", "padding", "groups", "bias", "p", "init", "from", "kernal", "body"]
ARG_VALUES = st.one_of(st.integers(-2, 6), st.booleans(), st.none(), st.sampled_from(
    ["x", "${width}", "${1/0}", "${__import__('os')}", "he_normal", [1, 2], [3, 3, 3], 10**11, ["relu"], "$layers"]))
ITEMS = st.one_of(
    st.sampled_from(OP_NAMES),
    st.builds(lambda op, args: {op: args}, st.sampled_from(OP_NAMES),
              st.dictionaries(st.sampled_from(ARG_NAMES), ARG_VALUES, max_size=3)),
    st.builds(lambda name, op: {"name": name, op: {}}, st.sampled_from(["a", "a", "b.c", "../x", ""]),
              st.sampled_from(OP_NAMES)),
)
RANDOM_SPECS = st.fixed_dictionaries(
    {"archc": st.sampled_from([1, 1, 1, 2]), "name": st.sampled_from(["fz", "fz", "bad name"]),
     "input": st.sampled_from([{"shape": [3, 8, 8]}, {"shape": [6]}, [3, 8, 8], {"shape": [1, 3, 8, 8]}]),
     "params": st.just({"width": 4, "layers": [1, 2]}),
     "network": st.lists(ITEMS, max_size=5)},
    optional={"extends": st.sampled_from(["resnet20", "../outside.yaml", "/etc/passwd", "base.yaml", "nosuch",
                                          "secret.txt"])})
GOOD_NETWORK = [{"conv": {"out": "$width", "kernel": 3}}, "relu", "global_avgpool", "flatten", {"linear": {"out": 2}}]
# half the specs are valid (with at most one random item added), so that commands get past validation and write
VALID_SPECS = st.builds(
    lambda extra, where: {"archc": 1, "name": "fz", "input": {"shape": [3, 8, 8]},
                          "params": {"width": 4, "layers": [1, 2]},
                          "network": GOOD_NETWORK[:where] + extra + GOOD_NETWORK[where:]},
    st.lists(ITEMS, max_size=1), st.integers(0, len(GOOD_NETWORK)))
SPECS = st.one_of(RANDOM_SPECS, VALID_SPECS)
FLAGS = st.lists(st.sampled_from([
    "--set width=7", "--set layers=[2,2", "--set nope=1", "--set width=[1]", "--set layers=[1]", "--json",
    "--depth 2", "--depth -1", "--batch-size 0", "--backend torch", "--backend onnx", "--backend tensorflow2",
    "-o out/m.pt2", "-o out/m.onnx", "-o out/m.bin", "-o out", "-o missing/m.pt2", "-o out/m.svg", "-o out/m.dot",
    "-o out/m.html", "--force", "--emit-source out/m.py", "--max-params 10", "--max-params 1e4", "--allow-path /",
    "--resolved", "--seed 3", "--max-activation-bytes 100",
]), max_size=4)
# compile is the slow command (torch.export): drawn less often; keras is left out (TensorFlow's import alone takes
# longer than the whole test should)
COMMANDS = st.sampled_from(["validate", "validate", "summary", "summary", "render", "draw", "diff", "compile",
                            "schema"])


def argv_of(command: str, flags: list[str]) -> list[str]:
    spec = ["spec.yaml", "resnet20"] if command == "diff" else ["spec.yaml"]
    args = [part for flag in flags for part in shlex.split(flag)]
    return [command] + ([] if command == "schema" else spec) + args


def setup_folder(folder: Path, spec: dict) -> set[Path]:
    (folder / "out").mkdir()
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (folder / "base.yaml").write_text("archc: 1\nname: base\ninput: {shape: [3, 8, 8]}\nnetwork: [relu]\n")
    (folder / "secret.txt").write_text("password: hunter2\n")
    return set(folder.rglob("*"))


def check_outcome(folder: Path, before: set[Path], status: object, err: str) -> None:
    assert status in (0, 2), f"exit status {status}\n{err}"
    assert "Traceback" not in err, err
    assert "hunter2" not in err
    # without -o, draw and compile write NAME.svg / NAME.pt2 ... in the working folder, as documented
    defaults = {folder / f"{name}{suffix}" for name in ("fz", "resnet20") for suffix in (".svg", ".pt2", ".onnx")}
    stray = [p for p in set(folder.rglob("*")) - before - defaults if not p.is_relative_to(folder / "out")]
    assert not stray, f"files outside the output folder: {stray}"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(SPECS, COMMANDS, FLAGS)
def test_cli_in_process(spec, command, flags):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name) / "work"
        folder.mkdir()
        before = setup_folder(folder, spec)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = main(argv_of(command, flags))
                except SystemExit as exit_:  # argparse: an unknown flag for this command
                    status = exit_.code
        finally:
            os.chdir(cwd)
        check_outcome(folder, before, status, err.getvalue())
        assert not (Path(name) / "outside.yaml").exists()


TRAIN_FLAGS = st.lists(st.sampled_from([
    "--lr nan", "--lr -1", "--lr 0.01", "--momentum -1", "--momentum 0.5", "--threads 0", "--threads 1",
    "--workers -1", "--name ../x", "--name /tmp/x", "--name ok", "--epochs 0", "--batch-size 1000", "--seed -1",
    "--warmup-epochs 5", "--schedule onecycle", "--optimizer adam", "--checkpoint-every 1", "--backend keras",
    "--device cuda", "--max-params 10", "--set width=2", "--set width=x", "--label-smoothing 1", "--gamma 0",
    "--json", "--hflip", "--random-crop -1",
]), max_size=3)


@settings(max_examples=max(4, EXAMPLES // 4), deadline=None, suppress_health_check=list(HealthCheck),
          database=None)
@given(TRAIN_FLAGS)
def test_train_in_process(flags):
    spec = {"archc": 1, "name": "fz", "input": {"shape": [1, 8, 8]}, "params": {"width": 4},
            "network": [{"conv": {"out": "$width", "kernel": 3}}, "relu", "global_avgpool", "flatten",
                        {"linear": {"out": 10}}]}
    if any("keras" in flag for flag in flags):
        flags = [*flags, "--epochs 0"]  # refused before TensorFlow is imported: its import is too slow here
    base = ["--data synthetic", "--subset 32", "--test-subset 16", "--batch-size 16", "--epochs 1",
            "--no-progress", "--out out/runs"] + ([] if any("--device" in f for f in flags) else ["--device cpu"])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name) / "work"
        folder.mkdir()
        before = setup_folder(folder, spec)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    status = main(argv_of("train", [*base, *flags]))
                except SystemExit as exit_:
                    status = exit_.code
        finally:
            os.chdir(cwd)
        check_outcome(folder, before, status, err.getvalue())
        assert not (Path(name) / "x").exists() and not Path("/tmp/x").exists()


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(SPECS, st.sampled_from(["validate", "summary", "render"]), FLAGS)
def test_cli_in_a_real_process(spec, command, flags):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        before = setup_folder(folder, spec)
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        done = subprocess.run([sys.executable, "-m", "archc", *argv_of(command, flags)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=120)
        check_outcome(folder, before, done.returncode, done.stderr)

