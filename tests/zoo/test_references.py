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
#: references that draw weights from distributions archc's init cannot name yet (normal(std), trunc_normal(std),
#: uniform(a): init with arguments, issue 13): strict xfail, so each mark must go when the spec can say it
INIT_PENDING = {"vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "squeezenet1_0",
                "squeezenet1_1", "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_large",
                "mobilenet_v3_small", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"}
INIT_PENDING |= {f"efficientnet_b{i}" for i in range(8)} | {  # classifier: uniform(+-1 / sqrt(out_features))
    f"regnet_{kind}_{size}" for kind, sizes in [("x", "400mf 800mf 1_6gf 3_2gf 8gf 16gf 32gf"),
                                                ("y", "400mf 800mf 1_6gf 3_2gf 8gf 16gf 32gf 128gf")]
    for size in sizes.split()}  # fc: normal(0, 0.01)
COUNTERPARTS = counterparts()


def _cheap(name: str, *marks: pytest.MarkDecorator) -> object:
    slow = name not in ALWAYS and archc.summarize(name).params > SLOW_PARAMS
    return pytest.param(name, marks=[*marks, pytest.mark.slow] if slow else list(marks), id=name)


def _init_case(name: str) -> object:
    pending = pytest.mark.xfail(reason="init with arguments not yet in archc", strict=True)
    return _cheap(name, pending) if name in INIT_PENDING else _cheap(name)


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


@pytest.mark.parametrize("name", [_init_case(name) for name in sorted(COUNTERPARTS)])
def test_default_initialisation_is_the_references(name):
    check_initialisation(name, COUNTERPARTS[name])
