"""Weight transfer between the torch and Keras backends, by node name.

The exchange format is the torch ``state_dict`` layout, keyed ``<node>.<tensor>``: the checkpoint contract of
docs/architecture.md. A Keras layer named ``<node>`` maps onto it with a fixed table (conv kernels HWIO <-> OIHW,
dense kernels transposed, BatchNorm gamma/beta/moving statistics <-> weight/bias/running_mean/running_var), which
follows from the tensors each op declares (``archc/ops/*.py``: torch name, Keras name, layout role).
This module imports neither torch nor keras at import time: it recognises models by their class hierarchy and
imports numpy / torch only when it moves tensors.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from archc.ir.graph import Graph
from archc.ops.registry import OPS, ROLES, Role, TensorDecl

#: Keras' torch backend keeps layer weights in a torch ParameterDict, whose keys cannot hold ".": there, and only there,
#: Keras layer names spell the node's dots as ">" (which no node name contains and every Keras backend accepts)
TORCH_BACKEND_SEPARATOR = ">"


class TransferError(ValueError):
    """Weights do not fit: the message names every missing, unexpected and mismatched tensor."""


def transfer_weights(src: Any, dst: Any, strict: bool = True) -> None:
    """Copy the weights of ``src`` into ``dst`` by name: torch -> Keras, Keras -> torch (or within one framework).

    ``src`` is a ``torch.nn.Module``, a ``keras.Model`` or a mapping of torch-layout tensors (a ``state_dict``);
    ``dst`` is a ``torch.nn.Module`` or a ``keras.Model``. With ``strict`` (the default) every tensor of ``dst``
    must come from ``src`` and every tensor of ``src`` must be used; shapes must always agree. Raises
    ``TransferError`` listing each problem.
    """
    load_state(dst, read_state(src), strict=strict)


def framework(model: Any) -> str:
    """'keras', 'torch' or 'mapping'. Keras is checked first: on Keras' torch backend a Model is an nn.Module too."""
    modules = {cls.__module__.split(".")[0] for cls in type(model).__mro__}
    if "keras" in modules:
        return "keras"
    if "torch" in modules and hasattr(model, "state_dict"):
        return "torch"
    if isinstance(model, Mapping):
        return "mapping"
    raise TypeError(f"expected a torch.nn.Module, a keras.Model or a state_dict mapping, got {type(model).__name__}")


def read_state(model: Any) -> dict[str, Any]:
    """The tensors of a model as numpy arrays in torch layout, keyed ``<node>.<tensor>``."""
    kind = framework(model)
    if kind == "keras":
        return _read_keras(model)
    state = model.state_dict() if kind == "torch" else model
    return {key: _to_numpy(value) for key, value in state.items()}


def load_state(model: Any, state: Mapping[str, Any], strict: bool = True) -> None:
    """Write torch-layout tensors (numpy arrays or torch tensors) into a torch or Keras model, by name."""
    kind = framework(model)
    if kind == "keras":
        _load_keras(model, state, strict)
    elif kind == "torch":
        _load_torch(model, state, strict)
    else:
        raise TypeError(f"cannot load weights into a {type(model).__name__}; "
                        "expected a torch.nn.Module or a keras.Model")


def expected_tensors(graph: Graph) -> dict[str, tuple[int, ...]]:
    """Torch-layout shape of every tensor the graph's torch model holds (``num_batches_tracked`` included)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, data in graph.op_nodes():
        inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
        for tensor in data["attrs"].declared_tensors(inputs):
            shapes[tensor.decl.key(name)] = tensor.shape
    return shapes


@functools.cache  # the registry is complete once loaded (plugins included), and this is asked once per tensor
def torch_only_suffixes() -> tuple[str, ...]:
    """``.name`` of every declared tensor with no Keras counterpart: not transferred, left as it is in torch."""
    # a tensor named "" is the node itself (a bare parameter such as ViT's class_token): it has no suffix to match
    return tuple(sorted({f".{decl.name}" for _, op in OPS.items() for decl in op.tensors
                         if decl.keras is None and decl.name}))


def keras_table() -> dict[tuple[str, str], dict[str, TensorDecl]]:
    """(Keras layer class, variable name) -> {child: the declaration it holds}, over every registered op.

    A Keras model carries no op names, only layer classes, layer names and variable names; the ops' declarations
    (``keras: "Conv2D.kernel"``) say what each variable is and how its axes map to torch's. A declaration held by a
    child layer (``<node>.qkv``, ``TensorDecl.keras_place``) applies to layers whose name ends with ``.<child>``.
    """
    table: dict[tuple[str, str], dict[str, TensorDecl]] = {}
    for op_name, op in OPS.items():
        for decl in op.tensors:
            if decl.keras is None:
                continue
            layer, variable = decl.keras.split(".")
            child, leaf = decl.keras_place()
            other = table.setdefault((layer, variable), {}).setdefault(child, decl)
            if (other.keras_place()[1], other.role) != (leaf, decl.role):
                raise ValueError(f"op '{op_name}' declares {decl.keras} as {decl.name} ({decl.role}); another op "
                                 f"declares it as {other.name} ({other.role})")
    return table


def _declaration(table: dict[tuple[str, str], dict[str, TensorDecl]], classes: list[str], layer: str,
                 variable: str) -> TensorDecl | None:
    """The declaration of a Keras variable: of the longest child its layer name ends with, else the node's own."""
    for cls in classes:
        held = table.get((cls, variable), {})
        for child in sorted(held, key=len, reverse=True):
            if not child or layer.endswith(f".{child}"):
                return held[child]
    return None


# ---- Keras --------------------------------------------------------------------------------------------------------
def keras_layer_name(node: str, keras_backend: str) -> str:
    """The Keras layer name of a node: the node name itself, except on Keras' torch backend (see above)."""
    return node.replace(".", TORCH_BACKEND_SEPARATOR) if keras_backend == "torch" else node


def node_name(layer_name: str) -> str:
    """The node name of a Keras layer name, on any Keras backend."""
    return layer_name.replace(TORCH_BACKEND_SEPARATOR, ".")


def _variable_name(variable: Any) -> str:
    return str(getattr(variable, "path", None) or variable.name).rsplit("/", 1)[-1]


def _keras_tensors(model: Any) -> dict[str, tuple[Any, Role]]:
    """torch key -> (Keras variable, its layout role) for every weight of a Keras model."""
    table = keras_table()
    out: dict[str, tuple[Any, tuple[int, ...] | None]] = {}
    for layer in model.layers:
        found = []
        classes = [cls.__name__ for cls in type(layer).__mro__]
        for variable in layer.weights:
            name = _variable_name(variable)
            decl = _declaration(table, classes, node_name(layer.name), name)
            if decl is None:
                mappable = sorted({cls for cls, _ in table})
                raise TransferError(f"layer '{layer.name}' ({type(layer).__name__}) holds weights that archc cannot "
                                    f"map ('{name}'); mappable layers: {', '.join(mappable)}")
            found.append((decl, variable))
        for decl, variable in found:
            leaf = decl.keras_place()[1]
            out[f"{node_name(layer.name)}.{leaf}" if leaf else node_name(layer.name)] = (variable, ROLES[decl.role])
    return out


def _read_keras(model: Any) -> dict[str, Any]:
    import numpy as np

    state = {}
    for key, (variable, role) in _keras_tensors(model).items():
        state[key] = role.keras_to_torch(np.asarray(variable.numpy()))
    return state


def _load_keras(model: Any, state: Mapping[str, Any], strict: bool) -> None:
    import numpy as np

    targets = _keras_tensors(model)
    shapes = {key: role.torch_shape_of(tuple(variable.shape)) for key, (variable, role) in targets.items()}
    check_state(state, shapes, strict)
    for key, (variable, role) in targets.items():
        if key in state:
            value = role.torch_to_keras(_to_numpy(state[key]), tuple(variable.shape))
            variable.assign(np.ascontiguousarray(value, dtype=variable.dtype))


# ---- torch --------------------------------------------------------------------------------------------------------
def _load_torch(module: Any, state: Mapping[str, Any], strict: bool) -> None:
    import torch

    current = module.state_dict()
    shapes = {key: tuple(value.shape) for key, value in current.items() if not key.endswith(torch_only_suffixes())}
    check_state(state, shapes, strict)
    new_state = dict(current)
    for key, value in state.items():
        if key in current:
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(_to_numpy(value))
            new_state[key] = tensor.to(dtype=current[key].dtype, device=current[key].device)
    module.load_state_dict(new_state, strict=True)


# ---- shared -------------------------------------------------------------------------------------------------------
def _to_numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check_state(state: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], strict: bool) -> None:
    """Raise TransferError naming every missing, unexpected and mismatched tensor."""
    problems = []
    mismatched = [f"{key}: source {list(_to_numpy(state[key]).shape)}, destination {list(shape)}"
                  for key, shape in shapes.items() if key in state and tuple(_to_numpy(state[key]).shape) != shape]
    if mismatched:
        problems.append(f"{len(mismatched)} with different shapes (torch layout): " + "; ".join(mismatched))
    if strict:
        missing = [key for key in shapes if key not in state]
        unexpected = [key for key in state if key not in shapes and not key.endswith(torch_only_suffixes())]
        if missing:
            problems.append(f"{len(missing)} missing in the source: {', '.join(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} not in the destination: {', '.join(unexpected)}")
    if problems:
        raise TransferError("cannot transfer weights by name: " + "\n  ".join(["", *problems]).lstrip("\n "))
