"""The command line: exit statuses, outputs, --help with examples, and no traceback for a bad spec."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
import yaml

import archc
from archc.cli import build_parser, main

BAD_SPEC = """\
archc: 1
name: bad
input: {shape: [3, 32, 32]}
netwrk: []
network:
  - {conv: {out: -64, kernal: 3}}
  - relux
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse: --help, --version, usage errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_main_help_lists_commands_and_examples(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("validate", "summary", "render", "list", "schema", "compile"):
        assert command in out
    assert "examples:" in out


@pytest.mark.parametrize("command", sorted(subcommands(build_parser())))
def test_every_subcommand_help_has_an_example(command):
    parser = subcommands(build_parser())[command]
    helps = [parser.format_help()]
    nested = subcommands(parser)  # e.g. `archc weights convert`
    if nested:
        helps = [sub.format_help() for sub in nested.values()]
    for text in helps:
        assert "example" in text and "archc " in text.split("example", 1)[1], text


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.strip() == f"archc {archc.__version__}"


def test_validate_ok(capsys):
    status, out, err = run(capsys, "validate", "resnet18")
    assert status == 0 and err == ""
    assert out.strip() == f"resnet18: ok ({len(archc.build_graph('resnet18')) - 1} nodes)"


def test_validate_prints_every_problem_then_the_count(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SPEC)
    status, out, err = run(capsys, "validate", str(path))
    assert status == 2 and out == ""
    assert "unknown key 'netwrk' (hint: did you mean 'network'?)" in err
    assert "network[0].conv.out: expected a positive integer, got -64" in err
    assert "unknown key 'kernal' (hint: did you mean 'kernel'?)" in err
    assert "unknown op, connection or block 'relux' (hint: did you mean 'relu'?)" in err
    assert err.rstrip().endswith("4 errors")
    assert f"{path}:6:18: error:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["validate", "no_such_spec"],
    ["validate", "missing/file.yaml"],
    ["summary", "resnet18", "--set", "num_clases=3"],
    ["render", "resnet18", "--set", "num_classes"],
    ["compile", "resnet18", "--backend", "tensorflow2"],
])
def test_spec_and_usage_mistakes_exit_2(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert "error" in err and "Traceback" not in err


def test_argparse_mistakes_exit_2(capsys):
    assert run(capsys, "validate")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_summary(capsys):
    status, out, _ = run(capsys, "summary", "resnet18")
    assert status == 0
    assert "11,689,512" in out and "1,814,073,344" in out and "layer4.1.conv2" in out
    status, out, _ = run(capsys, "summary", "resnet18", "--depth", "1")
    assert status == 0 and "layer4.1.conv2" not in out and "layer4" in out


def test_summary_written_to_a_pipe_keeps_whole_node_names(capsys, monkeypatch):
    # rich fits a table into 80 columns off a terminal: long names were cut to "features.1.0.st…"
    monkeypatch.delenv("COLUMNS", raising=False)
    status, out, _ = run(capsys, "summary", "swin_t", "--set", "depths=[2]", "--set", "heads=[3]")
    assert status == 0
    row = next(line for line in out.splitlines() if "features.1.0.stochastic_depth " in line)
    assert "drop_path" in row and "[3136, 96]" in row and "…" not in out
    status, out, _ = run(capsys, "list", "--ops")  # 'window_atte…' and 'patch_mergi…' in 80 columns
    assert status == 0 and "│ window_attention │" in out and "│ patch_merging " in out


def test_summary_json_and_set(capsys):
    status, out, _ = run(capsys, "summary", "resnet18", "--json", "--set", "num_classes=10",
                         "--set", "layers=[1, 1, 1, 1]")
    assert status == 0
    data = json.loads(out)
    assert data["name"] == "resnet18" and data["rows"][-1]["shape"] == [10]
    assert data["params"] == archc.summarize("resnet18", num_classes=10, layers=[1, 1, 1, 1]).params
    assert data["flops"] == 2 * data["macs"]


def test_render_output_is_a_spec_of_the_same_graph(capsys):
    status, out, _ = run(capsys, "render", "resnet20")
    assert status == 0
    again = archc.build_graph(out)
    original = archc.build_graph("resnet20")
    assert [(n, d["op"], d["shape"]) for n, d in again.op_nodes()] == \
        [(n, d["op"], d["shape"]) for n, d in original.op_nodes()]


def test_render_resolved(capsys, tmp_path):
    path = tmp_path / "child.yaml"
    path.write_text("archc: 1\nextends: resnet18\nname: child\nparams: {num_classes: 5}\n")
    status, out, _ = run(capsys, "render", str(path), "--resolved", "--set", "width=32")
    data = yaml.safe_load(out)
    assert status == 0 and data["name"] == "child" and "extends" not in data
    assert data["params"]["num_classes"] == 5 and data["params"]["width"] == 32


def test_list(capsys):
    status, out, _ = run(capsys, "list")
    assert status == 0
    assert "resnet50" in out and "25,557,032" in out and "densenet121" in out


def test_schema(capsys):
    status, out, _ = run(capsys, "schema")
    assert status == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "item.conv" in schema["$defs"]


def test_python_dash_m_and_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SPEC)
    result = subprocess.run([sys.executable, "-m", "archc", "validate", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "4 errors" in result.stderr and "Traceback" not in result.stderr
