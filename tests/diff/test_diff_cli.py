"""``archc diff`` from the command line: text and JSON output, exit statuses, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from archc.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_stride_on_conv1_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "diff", "resnet50", "resnet50", "--set-b", "stride_on=conv1")
    assert status == 0 and err == ""
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "A: resnet50" in lines and "B: resnet50 --set stride_on=conv1" in lines
    assert "changed 6 nodes (op, attributes or inputs)" in lines
    assert "~ layer2.0.conv1 conv stride 1 -> 2" in lines
    assert "~ layer2.0.conv2 conv stride 2 -> 1" in lines
    assert "layer2.0.conv1 [128, 56, 56] -> [128, 28, 28]" in lines
    assert "layer2 1,219,584 1,219,584 0 1.028 G 950.534 M -77.070 M" in lines
    assert "MACs 4,089,184,256 3,857,973,248 -231,211,008 (-5.65%)" in lines
    assert "GMACs 4.089 3.858 -0.231" in lines


def test_se_blocks_are_listed_per_block(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", "resnet50", "se_resnet50", "--limit", "0")
    assert status == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "added 96 nodes in 16 groups: +2,530,992 params, +2,514,944 MACs" in lines
    assert ("+ layer1.0.se +8,464 params +8,192 MACs 6 nodes: global_avgpool, fc1, relu, fc2, sigmoid, mul"
            in lines)
    assert sum(line.startswith("+ layer") for line in lines) == 16
    assert "~ layer4.2.add add input 0: layer4.2.bn3 -> layer4.2.se.mul" in lines


def test_limit_cuts_sections(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "diff", "resnet50", "se_resnet50", "--limit", "2")
    assert sum(line.split()[:1] == ["+"] for line in out.splitlines()) == 2
    assert "... 14 more (--limit 0 shows all; --json lists everything)" in out


def test_identical_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", "resnet18", "resnet18", "--exit-code")
    assert status == 0
    assert "no structural difference" in out
    status, _, _ = run(capsys, "diff", "resnet18", "resnet34", "--exit-code")
    assert status == 1
    status, _, _ = run(capsys, "diff", "resnet18", "resnet34")
    assert status == 0  # without --exit-code a difference is a successful run


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "diff", "resnet18", "resnet34", "--json", "--set", "num_classes=10", "--depth", "2")
    assert status == 0
    data = json.loads(out)
    assert data["spec_a"] == {"source": "resnet18", "set": ["num_classes=10"]}
    assert data["depth"] == 2 and data["identical"] is False
    assert sorted({node["group"] for node in data["added"]}) == [
        "layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"]
    assert data["total"]["params_a"] == 11_689_512 - 513 * 1000 + 513 * 10  # fc 512 -> 10 classes
    assert data["total"]["params_delta"] == 21_797_672 - 11_689_512
    assert {stage["name"] for stage in data["stages"] if stage["params_delta"]} == {
        "layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"}
    assert all(not stage["in_a"] for stage in data["stages"] if stage["params_delta"])


def test_spec_files_and_changed_attribute(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = ("archc: 1\nname: tiny\ninput: {shape: [3, 8, 8]}\nnetwork:\n"
            "  - {name: conv, conv: {out: 4, kernel: 3}}\n  - {name: act, relu: {}}\n")
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(text.replace("out: 4", "out: 6").replace("act, relu", "act, silu"))
    status, out, _ = run(capsys, "diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), "--exit-code")
    assert status == 1
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "~ conv conv out 4 -> 6" in lines
    assert "~ act silu op relu -> silu" in lines
    assert "conv [4, 8, 8] -> [6, 8, 8]" in lines
    assert "parameters 112 168 +56 (+50.00%)" in lines  # 4 * 3 * 9 + 4 -> 6 * 3 * 9 + 6


def test_spec_errors_exit_2_and_name_the_side(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "diff", "resnet18", "resnet34", "--set-b", "layerz=[1,1,1,1]")
    assert status == 2 and out == ""
    assert "unknown parameter 'layerz'" in err and "did you mean 'layers'?" in err
    assert "note: in spec B: resnet34 --set layerz=[1,1,1,1]" in err
    assert "Traceback" not in err
    status, _, err = run(capsys, "diff", "resnet5O", "resnet50")
    assert status == 2 and "note: in spec A: resnet5O" in err and "1 error" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "diff", "resnet18", "resnet18", "--depth", "-1")
    assert status == 2 and "--depth must be 0 or more" in err
    with pytest.raises(SystemExit) as exc:
        main(["diff", "resnet18"])
    assert exc.value.code == 2


def test_console_script_has_diff() -> None:
    result = subprocess.run([sys.executable, "-m", "archc", "diff", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert "--set-b" in result.stdout and "--exit-code" in result.stdout


def test_swin_t_to_swin_v2_t_names_the_v2_options_as_a_spec_writes_them(capsys: pytest.CaptureFixture[str]) -> None:
    small = ["--set", "depths=[2]", "--set", "heads=[3]", "--set", "resolution=64", "--set", "window=8"]
    status, out, _ = run(capsys, "diff", "swin_t", "swin_v2_t", *small)
    assert status == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    # booleans as YAML writes them (was 'cosine False -> True'); the post-norm moves after the attention
    assert ('~ features.1.0.attn window_attention cosine false -> true; position_bias "table" -> "mlp"; '
            'input 0: features.1.0.norm1 -> features.0.2') in lines
    assert "~ features.1.0.norm1 layernorm input 0: features.0.2 -> features.1.0.attn" in lines
