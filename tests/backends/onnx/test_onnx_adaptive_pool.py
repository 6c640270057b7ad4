"""Adaptive pools whose output size does not divide the input size (VGG's 7 x 7 pool at a smaller resolution) have
no ONNX operator; the backend exports them as constant slices, equal to torch's kernel (before, the exporter's
traceback ended `archc compile alexnet --set resolution=160 --backend onnx`)."""

from __future__ import annotations

import numpy as np
import pytest

import archc
from archc.cli import main

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

SPEC = """\
archc: 1
name: pools
input: {{shape: [3, {size}, {size}]}}
network:
  - {{name: conv, conv: {{out: 4, kernel: 3, padding: 1}}}}
  - {{name: pool, {pool}: {{size: {out}}}}}
  - flatten
"""


@pytest.mark.parametrize("pool", ["adaptive_avgpool", "adaptive_maxpool"])
@pytest.mark.parametrize(("size", "out"), [(5, 7), (10, 3), (9, 4), (8, 4)])  # up, down, uneven, divisible
def test_adaptive_pool_exports_at_any_size(tmp_path, pool, size, out):
    spec = tmp_path / "pools.yaml"
    spec.write_text(SPEC.format(size=size, out=out, pool=pool))
    model = archc.load(spec, backend="torch", seed=0).eval()
    path = tmp_path / "pools.onnx"
    assert main(["compile", str(spec), "--backend", "onnx", "-o", str(path), "--seed", "0"]) == 0
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == expected.shape == (3, 4 * out * out)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the user's model is unchanged by the export: its pool is torch's module again
    assert type(model.get_submodule("pool")).__name__.startswith("Adaptive")

