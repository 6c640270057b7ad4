"""Every zoo spec named like a reference (torchvision's classifiers, timm's models) is that reference: same parameter
count, its state dict loads strictly (same keys, same order), the same eval outputs once every BatchNorm holds
non-trivial statistics, and the same default initialisation. The harness is tests/zoo/reference.py.

Cost policy (tests/conftest.py): counts and strict loads run for every model (meta device, no weights); outputs run
at a small resolution for models up to SLOW_PARAMS parameters (plus ALWAYS) and at full resolution only as slow tests.
"""

from __future__ import annotations

import pytest

import archc

from .reference import (
    check_counts_and_names,
    check_initialisation,
    check_outputs,
    counterparts,
    full_resolution,
    small_params,
    small_resolution,
)

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

#: references above this many parameters take several seconds to initialise on a small CPU (VGG: ~3 s each)
SLOW_PARAMS = 50_000_000
#: one net of each expensive family still runs by default
ALWAYS = {"vgg11_bn", "alexnet"}
COUNTERPARTS = counterparts()


def _cheap(name: str, *marks: pytest.MarkDecorator) -> object:
    slow = name not in ALWAYS and archc.summarize(name).params > SLOW_PARAMS
    return pytest.param(name, marks=[*marks, pytest.mark.slow] if slow else list(marks), id=name)


def _slow(name: str) -> object:
    return pytest.param(name, marks=[pytest.mark.slow], id=name)


def test_the_zoo_has_its_references():
    assert {"resnet18", "resnet50", "densenet121", "se_resnet50"} <= set(COUNTERPARTS)


@pytest.mark.parametrize("name", sorted(COUNTERPARTS))
def test_counts_and_strict_load(name):
    check_counts_and_names(name, COUNTERPARTS[name])


@pytest.mark.parametrize("name", [_cheap(name) for name in sorted(COUNTERPARTS)])
def test_outputs_at_a_small_resolution(name):
    check_outputs(name, COUNTERPARTS[name], small_resolution(name), **small_params(name))


@pytest.mark.parametrize("name", [_slow(name) for name in sorted(COUNTERPARTS)])
def test_outputs_at_full_resolution(name):
    check_outputs(name, COUNTERPARTS[name], full_resolution(name), batch=1)


@pytest.mark.parametrize("name", [_cheap(name) for name in sorted(COUNTERPARTS)])
def test_default_initialisation_is_the_references(name):
    check_initialisation(name, COUNTERPARTS[name])


def _auxiliary(name: str, resolution: int) -> list:
    """torchvision's auxiliary logits in eval mode (where its forward skips them): each head applied to the trunk
    node it reads, captured by a forward hook; with the reference's BatchNorms randomized."""
    from .reference import randomize_batchnorm, torchvision_reference

    reference = randomize_batchnorm(torchvision_reference(name), resolution)
    heads = {"googlenet": [("inception4a", "aux1"), ("inception4d", "aux2")],
             "inception_v3": [("Mixed_6e", "AuxLogits")]}[name]
    x = torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(1))
    trunk: dict[str, torch.Tensor] = {}
    for source, _ in heads:
        reference.get_submodule(source).register_forward_hook(lambda m, i, out, key=source: trunk.update({key: out}))
    with torch.no_grad():
        logits = reference(x)
        auxiliary = [reference.get_submodule(head)(trunk[source]) for source, head in heads]
    return [reference, x, logits, *auxiliary]


@pytest.mark.parametrize(("name", "outputs", "resolution"), [
    ("googlenet", ["fc", "aux1", "aux2"], 64),
    pytest.param("inception_v3", ["fc", "AuxLogits"], 299, marks=pytest.mark.slow)])
def test_auxiliary_classifiers_are_outputs(name, outputs, resolution):
    reference, x, *expected = _auxiliary(name, resolution)
    ours = archc.load(name, outputs=outputs, resolution=resolution)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    with torch.no_grad():
        got = ours(x)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)
