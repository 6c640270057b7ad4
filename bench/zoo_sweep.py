"""Exploratory robustness sweep (not a CI test): every zoo spec through every path at sizes no test uses.

    python bench/zoo_sweep.py [--res 97,160] [--timeout 150] [--only a,b] > sweep.log   # the driver
    python bench/zoo_sweep.py one NAME RES                                            # one spec, one size

Per (spec, size), in a subprocess with a time box: torch build + eval forward (finite), summary count == built
parameter count, archc.optimize (prepack True / False) vs the eval model with random BatchNorm statistics, one
memory_efficient=True training step vs the default model (outputs and gradients), the --emit-source module, ONNX
export + onnxruntime, Keras with the torch weights (nets up to 100M params), features=True, and the torchvision / timm
reference at that size where there is one. Prints one JSON line per (spec, size): path -> "ok" | "skip: ..." |
"FAIL: ...". A size the spec refuses with a SpecError is recorded as "refused" with its message, and the reference is
tried at that size too (a disagreement is worth a look).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

KERAS_MAX_PARAMS = 100_000_000
BIG_PARAMS = 150_000_000  # beyond this only the summary and a meta-device build are run


def rel_close(a, b, tol: float) -> tuple[bool, float]:

    diff = (a - b).abs().max().item()
    return diff <= tol * max(1.0, b.abs().max().item()), diff


def float32_limited(model, x, got, expected) -> bool:
    """Where the eval model's own float32 output is further than 1e-4 from its float64 output, a path is as exact as
    float32 allows when it is no further from float64 than twice that (the ONNX zoo test's rule)."""
    import copy

    import torch

    with torch.no_grad():
        exact = copy.deepcopy(model).double()(x.double()).float()
    own, path = (expected - exact).abs().max().item(), (got - exact).abs().max().item()
    return own > 1e-4 * max(1.0, exact.abs().max().item()) and path <= 2 * own


def run_one(name: str, res: int) -> dict[str, str]:
    import torch

    import archc
    from archc.errors import SpecError

    torch.set_num_threads(1)
    results: dict[str, str] = {}
    try:
        graph = archc.build_graph(name, resolution=res)
    except SpecError as exc:
        results["build"] = "refused: " + str(exc).replace("\n", " | ")[:300]
        results["reference"] = reference_at(name, res, refused=True)
        return results
    params = archc.summarize(graph).params
    channels = graph.nodes[graph.input_node]["shape"][0]
    if params > BIG_PARAMS:
        model = archc_meta(graph)
        count = sum(p.numel() for p in model.parameters())
        results["summary"] = "ok" if count == params else f"FAIL: summary {params} != built {count}"
        results["rest"] = f"skip: {params / 1e6:.0f}M params"
        return results
    steps = [("torch", check_torch), ("optimize", check_optimize), ("memory_efficient", check_memory_efficient),
             ("emit_source", check_emit), ("onnx", check_onnx), ("keras", check_keras), ("features", check_features),
             ("reference", lambda n, r, g, c: reference_at(n, r, refused=False))]
    for path, check in steps:
        try:
            results[path] = check(name, res, graph, channels) or "ok"
        except Exception as exc:  # noqa: BLE001 - the sweep records every failure and goes on
            tail = traceback.format_exc().strip().splitlines()[-6:]
            results[path] = f"FAIL: {type(exc).__name__}: {str(exc)[:300]} || " + " / ".join(tail)[:600]
        print(f"  {name}@{res} {path}: {results[path][:200]}", file=sys.stderr, flush=True)
    return results


def archc_meta(graph):
    from archc.backends.torch.build import build_graph_module, make_plan

    return build_graph_module(make_plan(graph, device="meta"))


def seeded_input(channels: int, res: int, batch: int = 2, seed: int = 1):
    import torch

    return torch.randn(batch, channels, res, res, generator=torch.Generator().manual_seed(seed))


def check_torch(name, res, graph, channels):
    import torch

    import archc

    model = archc.load(name, resolution=res, seed=0).eval()
    with torch.no_grad():
        out = model(seeded_input(channels, res))
    if not torch.isfinite(out).all():
        return "FAIL: non-finite eval output"
    count = sum(p.numel() for p in model.parameters())
    if count != archc.summarize(graph).params:
        return f"FAIL: summary {archc.summarize(graph).params} != built {count}"
    expected = (2, *graph.nodes[graph.output_node]["shape"])
    if tuple(out.shape) != expected:
        return f"FAIL: output shape {tuple(out.shape)} != inferred {expected}"
    return None


def bn_model(name, res, channels):
    """The eval model with random BatchNorm statistics of a batch of the net's own input channels."""
    import torch
    from zoo.reference import randomize_layernorm, randomize_zero_weights

    import archc

    model = archc.load(name, resolution=res, seed=0)
    randomize_layernorm(model)
    randomize_zero_weights(model)  # ViT's head starts at zero: every output would be 0
    generator = torch.Generator().manual_seed(0)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for layer in norms:
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=generator) * 0.6 - 0.3)
            layer.reset_running_stats()
            layer.momentum = None
        if norms:
            torch.manual_seed(0)
            model.train()
            model(seeded_input(channels, res, batch=4, seed=0))
        for layer in norms:
            layer.momentum = 0.1
    return model.eval()


def check_optimize(name, res, graph, channels):
    import torch

    import archc

    model = bn_model(name, res, channels)
    x = seeded_input(channels, res)
    with torch.no_grad():
        expected = model(x)
        notes = []
        for prepack in (True, False):
            got = archc.optimize(model, prepack=prepack)(x)
            ok, diff = rel_close(got, expected, 1e-4)
            if not ok and not float32_limited(model, x, got, expected):
                notes.append(f"prepack={prepack}: max diff {diff:.3g} (scale {expected.abs().max().item():.3g})")
    return "FAIL: " + "; ".join(notes) if notes else None


def check_memory_efficient(name, res, graph, channels):
    import torch

    import archc

    default = archc.load(name, resolution=res, seed=0).train()
    lean = archc.load(name, resolution=res, seed=0, memory_efficient=True).train()
    lean.load_state_dict(default.state_dict())
    x = seeded_input(channels, res)
    outs, grads = [], []
    for model in (default, lean):
        torch.manual_seed(3)
        out = model(x)
        (out.float() ** 2).mean().backward()
        outs.append(out.detach())
        grads.append({k: p.grad for k, p in model.named_parameters()})
    ok, diff = rel_close(outs[1], outs[0], 1e-5)
    if not ok:
        return f"FAIL: outputs differ by {diff:.3g}"
    for key, grad in grads[0].items():
        other = grads[1][key]
        if (grad is None) != (other is None):
            return f"FAIL: {key} gradient present in one model only"
        if grad is not None:
            ok, diff = rel_close(other, grad, 1e-5)
            if not ok and diff > 1e-5 * max(1e-12, grad.abs().max().item()) * 10:
                return f"FAIL: grad {key} differs by {diff:.3g} (scale {grad.abs().max().item():.3g})"
    return None


def check_emit(name, res, graph, channels):
    import torch
    from zoo.reference import emitted_class

    import archc

    model = archc.load(name, resolution=res, seed=0).eval()
    emitted = emitted_class(graph)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = seeded_input(channels, res)
    with torch.no_grad():
        if not torch.equal(emitted(x), model(x)):
            return "FAIL: emitted module computes something else"
    return None


def check_onnx(name, res, graph, channels):
    import onnxruntime
    import torch

    from archc.api import backend_module

    model = bn_model(name, res, channels)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "net.onnx"
        backend_module("onnx").save(model, graph, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = seeded_input(channels, res, batch=1)
        got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    with torch.no_grad():
        expected = model(x)
    ok, diff = rel_close(got, expected, 1e-4)
    if not ok and float32_limited(model, x, got, expected):
        return f"ok (float32-limited: {diff:.2g})"
    return None if ok else f"FAIL: onnx max diff {diff:.3g} (scale {expected.abs().max().item():.3g})"


def check_keras(name, res, graph, channels):
    import numpy as np
    import torch

    from archc.api import backend_module
    from archc.transfer import transfer_weights

    if archc_params(graph) > KERAS_MAX_PARAMS:
        return "skip: over 100M params"
    model = bn_model(name, res, channels)
    keras_model = backend_module("keras").build_model(graph, seed=1)
    transfer_weights(model, keras_model)
    x = seeded_input(channels, res, batch=1)
    with torch.no_grad():
        expected = model(x)
    got = np.asarray(keras_model(x.permute(0, 2, 3, 1).numpy(), training=False))
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    if got.shape != tuple(expected.shape):
        return f"FAIL: keras shape {got.shape} != torch {tuple(expected.shape)}"
    got = torch.from_numpy(got.copy())
    ok, diff = rel_close(got, expected, 1e-4)
    if not ok and float32_limited(model, x, got, expected):
        return f"ok (float32-limited: {diff:.2g})"
    return None if ok else f"FAIL: keras max diff {diff:.3g} (scale {expected.abs().max().item():.3g})"


def archc_params(graph) -> int:
    import archc

    return archc.summarize(graph).params


def check_features(name, res, graph, channels):
    import torch

    import archc

    ends = graph.stage_ends()
    model = archc.load(name, resolution=res, seed=0, features=True).eval()
    with torch.no_grad():
        outs = model(seeded_input(channels, res))
    if len(ends) == 1 and isinstance(outs, torch.Tensor):  # one output is the tensor itself (docs/spec-format.md)
        outs = [outs]
    if not isinstance(outs, (list, tuple)) or len(outs) != len(ends):
        count = len(outs) if hasattr(outs, "__len__") else "?"
        return f"FAIL: {type(outs).__name__} of {count}, {len(ends)} stage ends"
    for node, out in zip(ends, outs):
        if tuple(out.shape[1:]) != tuple(graph.nodes[node]["shape"]):
            return f"FAIL: {node} shape {tuple(out.shape)} != inferred {graph.nodes[node]['shape']}"
        if not torch.isfinite(out).all():
            return f"FAIL: {node} not finite"
    return f"ok ({len(ends)} maps)"


def reference_at(name: str, res: int, refused: bool) -> str:
    import torch
    from zoo.reference import check_outputs, counterparts, reference_size, small_params

    builders = counterparts()
    if name not in builders:
        return "skip: no reference"
    if refused:
        try:
            model = builders[name](**reference_size(name, res)).eval()
            with torch.no_grad():
                model(torch.randn(1, 3, res, res))
        except Exception as exc:  # noqa: BLE001
            return f"also refused: {type(exc).__name__}: {str(exc)[:150]}"
        return "NOTE: the reference accepts this size"
    params = small_params(name)
    if name == "inception_v3" and res < 299:
        params = {"aux_logits": False}
    diff = check_outputs(name, builders[name], res, batch=1, **params)
    return f"ok (max diff {diff:.2g})"


def driver(argv: list[str]) -> None:
    import archc
    from archc.zoo import zoo_names

    sizes = [int(s) for s in _option(argv, "--res", "97,160").split(",")]
    timeout = int(_option(argv, "--timeout", "150"))
    only = _option(argv, "--only", "")
    skip = _option(argv, "--skip-done", "")  # a log of an earlier run: its (spec, size) pairs are not run again
    names = only.split(",") if only else zoo_names()
    jobs = []
    for name in names:
        graph = archc.build_graph(name)
        default = graph.nodes[graph.input_node]["shape"][-1]
        own = [default] if graph.num_macs < 1e9 else []
        extra = sizes if default >= 64 else [default + 13, 2 * default - 1]  # CIFAR / MNIST nets: small odd sizes
        for rank, res in enumerate(dict.fromkeys(extra + own)):  # every spec at one new size first, cheapest first
            jobs.append((rank, graph.num_macs * (res / default) ** 2, name, res))
    done_before = {(r["name"], r["res"]) for r in map(json.loads, Path(skip).read_text().splitlines())} if skip else {}
    for _, _, name, res in sorted(jobs):
        if (name, res) in done_before:
            continue
        try:
            done = subprocess.run([sys.executable, __file__, "one", name, str(res)], capture_output=True, text=True,
                                  timeout=timeout)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            record = json.loads(lines[-1]) if lines else {"crash": done.stderr[-800:]}
        except subprocess.TimeoutExpired as exc:
            partial = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            record = {"timeout": f"over {timeout}s; " + " ".join(partial.split("\n")[-4:])[:400]}
        print(json.dumps({"name": name, "res": res, **record}), flush=True)


def _option(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        import timm  # noqa: F401 - torch, torchvision and timm before TensorFlow (after it they crash)
        import torch  # noqa: F401
        import torchvision  # noqa: F401

        print(json.dumps(run_one(sys.argv[2], int(sys.argv[3]))), flush=True)
    else:
        driver(sys.argv[1:])
