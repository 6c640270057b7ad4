"""Every image spec of the zoo declares its input side as the param `resolution` (`--set resolution=160`)."""

from __future__ import annotations

import pytest

import archc
from archc.cli import main
from archc.spec.parse import parse
from archc.zoo import zoo_names

from .reference import small_params

IMAGE_SPECS = [name for name in zoo_names() if len(archc.build_graph(name).nodes["input"]["shape"]) == 3]


def test_the_zoo_has_image_specs():
    assert {"resnet18", "resnet50", "densenet121", "resnet20"} <= set(IMAGE_SPECS)


@pytest.mark.parametrize("name", IMAGE_SPECS)
def test_resolution_is_a_param(name):
    default = parse(name).params["resolution"]
    assert archc.build_graph(name).nodes["input"]["shape"][1:] == (default, default)
    graph = archc.build_graph(name, resolution=160, **small_params(name))  # Inception-v3: its aux head needs 299
    assert graph.nodes["input"]["shape"][1:] == (160, 160)


def test_set_resolution_on_the_command_line(capsys):
    assert main(["summary", "resnet50", "--set", "resolution=160"]) == 0
    assert "[3, 160, 160]" in capsys.readouterr().out


@pytest.mark.parametrize("resolution", [97, 160])
def test_inception_aux_head_refusal_says_how_to_go_smaller(resolution, capsys):
    # torchvision's eval model runs at these sizes (its AuxLogits only in training); archc's graph holds the head,
    # so the located refusal's source line tells the way out
    assert main(["summary", "inception_v3", "--set", f"resolution={resolution}"]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "--set aux_logits=false" in err and "Traceback" not in err
    assert main(["summary", "inception_v3", "--set", f"resolution={resolution}", "--set", "aux_logits=false"]) == 0
