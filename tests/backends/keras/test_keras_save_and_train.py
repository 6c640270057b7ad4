"""The Keras model as a user sees it: saved and loaded where archc is not installed, trained with fit, and run on
Keras' torch backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import archc
from archc.api import backend_module

keras = pytest.importorskip("keras")

from keras_lowering_cases import CASES  # noqa: E402

# -I ignores PYTHONPATH and user site; archc's editable install still puts it on the path, so it is blocked too
WITHOUT_ARCHC = textwrap.dedent("""
    import sys

    class _NoArchc:
        def find_spec(self, name, path=None, target=None):
            if name == "archc" or name.startswith("archc."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, _NoArchc())
    try:
        import archc
    except ImportError:
        pass
    else:
        raise SystemExit("archc is importable")
""")


def run_isolated(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-I", "-c", code], cwd="/tmp", env=environment, capture_output=True,
                          text=True, timeout=600)


def test_saved_model_loads_without_archc(tmp_path):
    graph = archc.build_graph("resnet20")
    model = backend_module("keras").build_model(graph, seed=0)
    path = tmp_path / "resnet20.keras"
    backend_module("keras").save(model, graph, path)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(model(x, training=False)))
    code = WITHOUT_ARCHC + textwrap.dedent(f"""
        import numpy as np, keras
        model = keras.saving.load_model({str(path)!r})
        y = np.asarray(model(np.load({str(tmp_path / "x.npy")!r}), training=False))
        np.testing.assert_allclose(y, np.load({str(tmp_path / "y.npy")!r}), rtol=0, atol=1e-6)
        print("ok", len(model.layers))
    """)
    result = run_isolated(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["ok", str(len(model.layers))]


def test_fit_decreases_the_loss():
    model = archc.load("cifar_resnet", backend="keras", seed=0, depth=8, widths=[8, 16, 32])  # BN, option-A shortcuts
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0], losses


def test_keras_torch_backend(tmp_path):
    """KERAS_BACKEND=torch: the same Keras models, on torch kernels, match the torch backend (every lowering case of
    keras_lowering_cases.py, plus resnet18 and two CIFAR nets)."""
    pytest.importorskip("torch")
    (tmp_path / "cases.json").write_text(json.dumps(CASES))
    code = textwrap.dedent(f"""
        import json, numpy as np, torch, keras, archc
        assert keras.backend.backend() == "torch"
        from archc.transfer import transfer_weights
        cases = json.loads(open({str(tmp_path / "cases.json")!r}).read())
        results = {{}}
        for name, spec in [*cases.items(), *((zoo, zoo) for zoo in ("resnet18", "resnet20", "highway_cifar"))]:
            graph = archc.build_graph(spec)
            reference = archc.api.backend_module("torch").build_model(graph, seed=0).eval()
            model = archc.api.backend_module("keras").build_model(graph, seed=1)
            transfer_weights(reference, model)
            x = torch.randn(2, *graph.nodes[graph.input_node]["shape"])
            with torch.no_grad():
                expected = reference(x).numpy()
                actual = keras.ops.convert_to_numpy(model(x.permute(0, 2, 3, 1) if x.dim() == 4 else x,
                                                          training=False))
            if actual.ndim == 4:
                actual = actual.transpose(0, 3, 1, 2)
            results[name] = [float(np.abs(actual - expected).max()), float(np.abs(expected).max())]
        print(json.dumps(results))
    """)
    result = run_isolated(code, {"KERAS_BACKEND": "torch"})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(results) == len(CASES) + 3
    for name, (difference, scale) in results.items():
        assert difference <= 1e-4 * max(1.0, scale), (name, difference, scale)


def test_compile_command_writes_a_keras_file(tmp_path, capsys):
    from archc.cli import main

    path = Path(tmp_path / "net.keras")
    assert main(["compile", "plain_fc10", "--backend", "keras", "-o", str(path)]) == 0
    assert keras.saving.load_model(path).count_params() == archc.summarize("plain_fc10").params
