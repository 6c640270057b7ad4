"""archc compile: the suffix of -o picks the backend, limits are checked before lowering, allocation failures and
OSErrors are one located line with exit status 2, and nothing is left half-written under the name asked for."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import archc
from archc.cli import main

TINY = """\
archc: 1
name: tiny
input: {shape: [3, 8, 8]}
network:
  - {name: stem, conv: {out: 4, kernel: 3}}
  - relu
  - global_avgpool
  - flatten
  - {name: head, linear: {out: 2}}
"""

HUGE = """\
archc: 1
name: huge
input: {shape: [3, 8, 8]}
network:
  - {name: stem, conv: {out: 4, kernel: 3}}
  - {name: big, conv: {out: 100000000000, kernel: 3}}
"""


def spec(tmp_path: Path, text: str = TINY, name: str = "tiny.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_the_suffix_picks_the_backend(tmp_path, capsys):
    pytest.importorskip("onnx")
    out = tmp_path / "tiny.onnx"
    status, _, err = run(capsys, "compile", spec(tmp_path), "-o", str(out))
    assert status == 0, err
    import onnx

    assert onnx.load(str(out)).graph.input[0].name  # an ONNX model, not a torch archive named .onnx
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.yaml"]  # no temporary file left


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "x.onnx", "--backend", "torch"], "the torch backend writes .pt2 files, not '.onnx'"),
    (["-o", "x.pt2", "--backend", "keras"], "the keras backend writes .keras files, not '.pt2'"),
    (["-o", "x.bin"], "cannot tell the backend from the suffix '.bin'"),
    (["-o", "x"], "cannot tell the backend from the suffix ''"),
    (["-o", "x.onnx", "--emit-source", "x.py"], "the onnx backend has no source to emit"),
    (["-o", "x.pt2", "--emit-source", "x.pt2"], "--emit-source and -o both name"),
])
def test_contradicting_output_flags_are_refused_before_writing(tmp_path, capsys, monkeypatch, argv, message):
    source = spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "compile", source, *argv)
    assert status == 2
    assert message in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.yaml"]


def test_a_network_past_the_limits_is_refused_before_lowering(tmp_path, capsys):
    out = tmp_path / "huge.pt2"
    status, _, err = run(capsys, "compile", spec(tmp_path, HUGE, "huge.yaml"), "-o", str(out))
    assert status == 2
    assert "huge.yaml:6:17: error: network[1]: node 'big' has 3,700,000,000,000 parameters" in err
    assert "--max-params 2,000,000,000" in err and "Traceback" not in err
    assert not out.exists()
    status, _, err = run(capsys, "compile", spec(tmp_path), "-o", str(out), "--max-activation-bytes", "100")
    assert status == 2
    assert ("network[0]: the output of node 'stem' takes 1.0 KiB; all activations 2.0 KiB for batch 1 (float32), "
            "more than the limit --max-activation-bytes 100 bytes") in err
    assert run(capsys, "validate", spec(tmp_path, HUGE, "huge.yaml"))[0] == 0  # validate checks no limit


def test_limits_can_be_raised_and_load_checks_them_too(tmp_path, capsys):
    pytest.importorskip("torch")
    with pytest.raises(archc.SpecError, match="node 'stem' has 112 parameters and buffers"):
        archc.load(TINY, max_params=100)
    model = archc.load(TINY, max_params=1000)
    assert sum(p.numel() for p in model.parameters()) == 4 * 3 * 9 + 4 + 4 * 2 + 2
    status, _, err = run(capsys, "compile", spec(tmp_path), "-o", str(tmp_path / "t.pt2"), "--max-params", "1e3")
    assert status == 0, err
    assert run(capsys, "compile", spec(tmp_path), "--max-params", "-3")[0] == 2  # argparse: a located usage error


def test_an_allocation_failure_while_lowering_names_the_node(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "huge.pt2"
    status, _, err = run(capsys, "compile", spec(tmp_path, HUGE, "huge.yaml"), "-o", str(out),
                         "--max-params", "1e15", "--max-activation-bytes", "1e16")
    assert status == 2
    assert "huge.yaml:6:17: error: network[1]: cannot allocate the weights or output of 'big' (conv)" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.slow  # TensorFlow's import: about 15 s on 2 cores
def test_an_allocation_failure_in_keras_names_the_node(tmp_path, capsys):
    pytest.importorskip("torch")  # torch before TensorFlow in one process
    pytest.importorskip("keras")
    out = tmp_path / "huge.keras"
    status, _, err = run(capsys, "compile", spec(tmp_path, HUGE, "huge.yaml"), "-o", str(out),
                         "--max-params", "1e15", "--max-activation-bytes", "1e16")
    assert status == 2 and "Traceback" not in err
    assert "huge.yaml:6:17: error: network[1]: cannot allocate the weights or output of 'big' (conv): OOM" in err
    assert not out.exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root; skipped elsewhere): writes to it fail with ENOSPC."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, tiny_disk, capsys):
    pytest.importorskip("torch")
    big = TINY.replace("out: 4,", "out: 256,")  # ~28 KB of weights: the .pt2 archive does not fit in 64 KiB
    (tiny_disk / "fill").write_bytes(b"x" * 40_000)
    status, _, err = run(capsys, "compile", spec(tmp_path, big), "-o", str(tiny_disk / "model.pt2"))
    assert status == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("archc: error: ") and "No space left on device" in last, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["fill"]


def test_a_read_only_folder_is_one_line(tmp_path, capsys):
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        status, _, err = run(capsys, "compile", spec(tmp_path), "-o", str(mount / "m.pt2"))
        assert status == 2 and "Traceback" not in err
        assert err.strip().splitlines()[-1].endswith(": Read-only file system"), err
        status, _, err = run(capsys, "train", spec(tmp_path), "--data", "synthetic", "--subset", "32",
                             "--batch-size", "16", "--epochs", "1", "--device", "cpu", "--out", str(mount / "runs"))
        assert status == 2 and err.strip().splitlines()[-1].endswith(": Read-only file system"), err
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_train_out_naming_a_file_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    (tmp_path / "file").write_text("x")
    status, _, err = run(capsys, "train", spec(tmp_path), "--data", "synthetic", "--subset", "32", "--batch-size",
                         "16", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "file"))
    assert status == 2 and "Traceback" not in err
    assert err.strip() == f"archc: error: {tmp_path / 'file'}: File exists", err


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_file_where_a_folder_is_expected_and_the_reverse(tmp_path, capsys, where):
    (tmp_path / "plain").write_text("not a folder")
    target = tmp_path / "plain" / "m.pt2" if where == "file" else tmp_path
    status, _, err = run(capsys, "compile", spec(tmp_path), "-o", str(target), "--backend", "torch"
                         if where == "file" else "torch")
    assert status == 2 and "Traceback" not in err
    assert ("is a file, not a folder" if where == "file" else "the torch backend writes .pt2 files") in err


def test_validate_and_list_print_json(tmp_path, capsys):
    status, out, _ = run(capsys, "validate", spec(tmp_path), "--json")
    assert status == 0 and json.loads(out) == {"ok": True, "name": "tiny", "nodes": 5, "errors": []}
    status, out, _ = run(capsys, "validate", spec(tmp_path, TINY.replace("relu", "ReLU")), "--json")
    data = json.loads(out)
    assert status == 2 and data["ok"] is False
    assert data["errors"] == [{"file": str(tmp_path / "tiny.yaml"), "line": 6, "col": 5, "path": "network[1]",
                               "message": "unknown op, connection or block 'ReLU'", "hint": "did you mean 'relu'?"}]
    status, out, _ = run(capsys, "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert status == 0 and rows["resnet50"]["params"] == 25_557_032


def test_the_backend_suffixes_match_the_backends():
    pytest.importorskip("torch")
    from archc.api import BACKEND_SUFFIXES, backend_module

    for suffix, name in BACKEND_SUFFIXES.items():
        if name != "keras":  # keras' suffix is checked in tests/backends/keras (its import takes seconds)
            assert backend_module(name).DEFAULT_SUFFIX == suffix


def test_a_device_is_not_read_whole(capsys):
    from archc.spec.loader import load_file

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    status, _, err = run(capsys, "validate", "/dev/zero")
    assert status == 2 and "/dev/zero is not a regular file" in err
    with pytest.raises(archc.SpecError, match="larger than 10,000,000 characters"):
        load_file("/dev/zero")  # read up to the limit only, then refused
