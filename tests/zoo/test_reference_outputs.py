"""Nets without a published reference share their names with one that has: the degradation experiment's plain nets
take their residual nets' weights (strict) and run. Outputs against the references: tests/zoo/test_references.py.
"""

from __future__ import annotations

import pytest

import archc

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(("plain", "resnet"), [("plain20", "resnet20"), ("plain_fc10", None)])
def test_plain_nets_share_names_with_their_residual_nets(plain, resnet):
    model = archc.load(plain, backend="torch", seed=0)
    if resnet is not None:  # the degradation experiment compares the same parameters with and without shortcuts
        model.load_state_dict(archc.load(resnet, backend="torch", seed=1).state_dict(), strict=True)
    out = model(torch.randn(2, *archc.build_graph(plain).nodes["input"]["shape"]))
    assert out.shape == (2, 10)
