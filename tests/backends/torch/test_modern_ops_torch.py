"""Torch semantics of the modern families' ops that the outputs-in-eval checks cannot see: drop_path in training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402


@pytest.mark.parametrize("shape", [[3, 4, 4], [6]])
def test_drop_path_drops_whole_samples_in_training_and_nothing_in_eval(shape):
    spec = {"archc": 1, "name": "dp", "input": {"shape": shape}, "network": [{"drop_path": {"rate": 0.25}}]}
    model = archc.load(spec)
    x = torch.rand(4000, *shape) + 1.0
    torch.manual_seed(0)
    y = model.train()(x)
    per_sample = (y / x).flatten(1)
    # every sample is either dropped whole or kept whole and scaled by 1 / (1 - rate)
    kept = (per_sample - 1 / 0.75).abs().amax(dim=1) < 1e-5
    dropped = per_sample.abs().amax(dim=1) == 0
    assert bool((kept | dropped).all())
    assert abs(float(dropped.float().mean()) - 0.25) < 0.03  # 4000 draws: 3 standard deviations ~ 0.02
    assert torch.equal(model.eval()(x), x)
