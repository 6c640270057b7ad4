"""One conformance test generated from the op registry: every op x every backend x its declared facts.

For each op registered in ``archc.ops.registry.OPS`` (plugins included) and each example the op declares, a one-op
network is built and checked:

* the op declares traits, tensors for whatever weights its torch module holds, and at least one example;
* it has a torch and a Keras lowering;
* its shape rule gives the shape the torch model computes;
* its declared tensors (names, shapes, parameter or buffer) are exactly the torch module's, and their Keras
  counterparts exactly the Keras layer's; parameter and buffer counts are the torch model's;
* torch -> Keras -> torch transfer round-trips every tensor, and the outputs agree in torch, Keras, the emitted
  source (identical) and ONNX.

A failure names the op and the example (``test_op[conv-1]``). Shapes are tiny: the whole registry takes seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from zoo.reference import emitted_class  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch import LOWERINGS as TORCH_LOWERINGS  # noqa: E402
from archc.backends.torch import build_model  # noqa: E402
from archc.ops.registry import OPS, ROLES, TRAITS  # noqa: E402
from archc.transfer import read_state, torch_only_suffixes, transfer_weights  # noqa: E402

#: element-wise variations of the input that feed a multi-input op's other ports (so that no two ports are equal)
BRANCHES = ("tanh", "sigmoid", "relu", "silu")
CASES = [(name, index) for name, op in OPS.items() for index in range(max(len(op.examples), 1))]


def example_spec(op: str, index: int) -> str:
    example = OPS.get(op).examples[index]
    network: list[dict] = []
    sources = ["input"]
    for branch in BRANCHES[:example.inputs - 1]:
        network.append({"name": f"port_{branch}", branch: {}, "from": ["input"]})
        sources.append(f"port_{branch}")
    network.append({"name": "node", op: dict(example.args), "from": sources})
    spec = {"archc": 1, "name": f"conformance_{op}", "input": {"shape": list(example.shape)}, "network": network}
    return yaml.safe_dump(spec, sort_keys=False)


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Every float tensor random, variances positive: a fresh norm in eval mode is nearly the identity. Buffers that
    the op computes from its arguments and Keras holds as constants (Swin V2's relative_coords_table) stay as they
    are: they are part of the architecture, not state."""
    generator = torch.Generator().manual_seed(seed)
    computed = torch_only_suffixes()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or name.endswith(computed):
                continue
            values = torch.rand(tensor.shape, generator=generator) * 1.5 + 0.25 if name.endswith("running_var") \
                else torch.randn(tensor.shape, generator=generator)
            tensor.copy_(values)


def node_tensors(model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], bool]]:
    """The op node's torch tensors: suffix -> (shape, is a parameter)."""
    if "node" in dict(model.named_parameters()):  # a bare parameter at the node's name (layer_scale)
        return {"": (tuple(model.get_parameter("node").shape), True)}
    module = model.get_submodule("node") if "node" in dict(model.named_modules()) else None
    if module is None:
        return {}
    found = {name: (tuple(p.shape), True) for name, p in module.named_parameters()}
    found.update({name: (tuple(b.shape), False) for name, b in module.named_buffers()})
    return found


def declared(graph: archc.Graph) -> dict[str, tuple[tuple[int, ...], bool]]:
    data = graph.nodes["node"]
    inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
    return {t.name: (t.shape, t.decl.trainable) for t in data["attrs"].declared_tensors(inputs)}


def to_keras_layout(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


@pytest.mark.parametrize(("op", "index"), CASES, ids=[f"{op}-{index}" for op, index in CASES])
def test_op(op, index, tmp_path):
    cls = OPS.get(op)
    assert cls.examples, f"op '{op}' declares no examples (OpSpec.examples): the conformance test cannot build it"
    assert cls.traits, f"op '{op}' declares no traits (OpSpec.traits; known: {', '.join(TRAITS)})"
    assert op in TORCH_LOWERINGS, f"op '{op}' has no torch lowering (archc.backends.torch.register_lowering)"
    graph = archc.build_graph(example_spec(op, index))
    data = graph.nodes["node"]

    model = build_model(graph, seed=0).eval()
    real = node_tensors(model)
    assert real == declared(graph), f"op '{op}': the torch module's tensors differ from the declared ones"
    counted = [decl.name for decl in type(data["attrs"]).tensors if ROLES[decl.role].counted]
    params = sum(math.prod(shape) for name, (shape, trainable) in real.items() if trainable and name in counted)
    buffers = sum(math.prod(shape) for name, (shape, trainable) in real.items() if not trainable and name in counted)
    assert (data["params"], data["buffers"]) == (params, buffers), f"op '{op}': counts differ from the torch module"

    randomise(model, seed=index)
    x = torch.randn(2, *graph.nodes[graph.input_node]["shape"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
    assert tuple(expected.shape[1:]) == tuple(data["shape"]), f"op '{op}': shape rule differs from torch"

    _check_emitted_source(graph, model, x, expected)
    _check_onnx(graph, model, x, expected, tmp_path)
    if "torch only" in cls.traits:
        _check_keras_refuses(op, graph)
    else:
        _check_keras(op, graph, model, x, expected)


def _check_keras_refuses(op, graph) -> None:
    """An op declared "torch only": the Keras backend has no lowering and says so at the node, not a traceback."""
    pytest.importorskip("keras")
    from archc.backends.keras import LOWERINGS as KERAS_LOWERINGS
    from archc.backends.keras import build_model as build_keras
    from archc.errors import SpecError

    assert op not in KERAS_LOWERINGS, f"op '{op}' has a Keras lowering: drop its \"torch only\" trait"
    with pytest.raises(SpecError, match=f"the keras backend has no lowering for op '{op}'"):
        build_keras(graph, seed=0)


def _check_emitted_source(graph, model, x, expected) -> None:
    emitted = emitted_class(graph)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    assert list(emitted.state_dict()) == list(model.state_dict())
    # the same constructor arguments: every module prints the same (repr lists ceil_mode, count_include_pad, ...)
    ours = {name: repr(module) for name, module in model.named_modules() if name and not list(module.children())}
    theirs = {name: repr(module) for name, module in emitted.named_modules() if name and not list(module.children())}
    assert ours == theirs
    with torch.no_grad():
        assert torch.equal(emitted(x), expected)


def _check_onnx(graph, model, x, expected, tmp_path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from archc.backends import onnx as onnx_backend

    path = tmp_path / "model.onnx"
    onnx_backend.save(model, graph, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {onnx_backend.INPUT_NAME: x.numpy()})
    np.testing.assert_allclose(result, expected.numpy(), rtol=1e-4, atol=1e-5)


def _check_keras(op, graph, model, x, expected) -> None:
    keras = pytest.importorskip("keras")
    from archc.backends.keras import LOWERINGS as KERAS_LOWERINGS
    from archc.backends.keras import build_model as build_keras

    assert op in KERAS_LOWERINGS, f"op '{op}' has no Keras lowering (archc.backends.keras.register_lowering)"
    keras_model = build_keras(graph, seed=0)
    keras_state = read_state(keras_model)
    data = graph.nodes["node"]
    inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
    wanted = {f"node.{t.name}" if t.name else "node": t.shape for t in data["attrs"].declared_tensors(inputs)
              if t.decl.keras is not None}
    assert {key: tuple(value.shape) for key, value in keras_state.items()} == wanted, \
        f"op '{op}': the Keras layer's tensors differ from the declared ones"
    transfer_weights(model, keras_model)
    result = np.asarray(keras_model(to_keras_layout(x.numpy()), training=False))
    np.testing.assert_allclose(result, to_keras_layout(expected.numpy()), rtol=1e-4, atol=1e-5)
    back = build_model(graph, seed=1)
    transfer_weights(keras_model, back)
    for key, value in model.state_dict().items():
        if not key.endswith(torch_only_suffixes()):
            assert torch.equal(back.state_dict()[key], value), f"op '{op}': {key} changed in the round trip"
    del keras


def test_every_declared_role_and_trait_is_known():
    for name, op in OPS.items():
        assert op.traits <= set(TRAITS), name
        assert {decl.role for decl in op.tensors} <= set(ROLES), name
        for decl in op.tensors:
            assert ROLES[decl.role].drawn <= (decl.init is not None), f"{name}.{decl.name}: drawn without an init"


def test_a_wrong_declaration_is_caught_by_name():
    """The tensor check is real: a conv that forgets to declare its bias fails it, naming the op."""
    from archc.ops.conv import Conv

    class ForgetfulConv(Conv):
        tensors = Conv.tensors[:1]  # the weight only

    graph = archc.build_graph(example_spec("conv", 0))
    data = graph.nodes["node"]
    data["attrs"] = ForgetfulConv.model_validate(data["attrs"].model_dump())
    model = build_model(graph, seed=0)
    assert set(node_tensors(model)) - set(declared(graph)) == {"bias"}
