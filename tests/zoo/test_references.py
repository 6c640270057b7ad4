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


def _cheap(name: str) -> object:
    slow = name not in ALWAYS and archc.summarize(name).params > SLOW_PARAMS
    return pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name)


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
