"""``archc train SPEC --init-from FILE [--freeze PATTERN]``: start from saved weights, matched by name.

FILE is a run folder (its best checkpoint), an ``archc train`` checkpoint, a plain state_dict saved with
``torch.save`` (a torchvision or timm ``.pth``; ``module.`` prefixes of DDP are dropped), a ``.safetensors`` file, a
Keras ``.keras`` model or ``.weights.h5`` file whose layers are named by node. Tensors are matched by their torch
name (``<node>.<tensor>``); the report lists matched, missing, unexpected and shape-mismatched ones. A classifier of
another width (the last layer with weights) is skipped with a note; any other shape mismatch is an error.
``--freeze`` takes shell patterns over tensor names (``layer1.*``): matching parameters do not train, and a
BatchNorm layer whose parameters are all frozen keeps its statistics too (eval mode), as timm's freeze does.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.train.errors import TrainError
from archc.train.runs import is_run

MAX_LISTED = 8


@dataclass
class InitReport:
    source: str
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    mismatched: list[str] = field(default_factory=list)  # "name: file [..], model [..]"
    skipped: list[str] = field(default_factory=list)  # the classifier's tensors of another width

    def lines(self) -> list[str]:
        total = len(self.matched) + len(self.missing) + len(self.mismatched) + len(self.skipped)
        lines = [f"init from {self.source}: {len(self.matched)} of {total} tensors matched by name"]
        for title, names in (("missing in the file (left as initialized)", self.missing),
                             ("unexpected (in the file, not in the model)", self.unexpected),
                             ("shape-mismatched", self.mismatched)):
            if names:
                listed = ", ".join(names[:MAX_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > MAX_LISTED
                                                          else "")
                lines.append(f"  {len(names)} {title}: {listed}")
        if self.skipped:
            lines.append(f"  note: the classifier has another width; skipped {', '.join(self.skipped)} "
                         "(left as initialized)")
        return lines


# ------------------------------------------------------------------------------------------------------ reading


def read_weights(path: str | Path, graph: Any) -> dict[str, Any]:
    """The tensors of FILE in torch layout, keyed ``<node>.<tensor>``, for the spec of ``graph`` (a .weights.h5
    file is read by its node names); TrainError for what cannot be read."""
    path = Path(path)
    if is_run(path):
        from archc.train.trained import read_trained

        return read_trained(path, "best").state
    if not path.is_file():
        raise TrainError(f"--init-from {path}: no such file or run folder")
    name = path.name.lower()
    if name.endswith(".safetensors"):
        return read_safetensors(path)
    if name.endswith(".weights.h5"):
        return read_weights_h5(path, graph)
    if name.endswith(".keras"):
        return _read_keras_model(path)
    return _read_torch(path)


def _read_torch(path: Path) -> dict[str, Any]:
    import torch

    from archc.commands.weights import unwrap_state_dict

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickles of code, torn files: one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"--init-from {path}: not a torch state_dict or checkpoint ({first})") from None
    data = unwrap_state_dict(data)
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise TrainError(f"--init-from {path}: expected a state_dict (names to tensors), got {type(data).__name__}")
    if all(key.startswith("module.") for key in data):  # saved from a DistributedDataParallel wrapper
        data = {key[len("module."):]: value for key, value in data.items()}
    return dict(data)


def read_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.numpy import load_file
    except ModuleNotFoundError:
        raise TrainError("--init-from .safetensors needs the safetensors package (pip install safetensors)") from None
    try:
        return dict(load_file(str(path)))
    except Exception as exc:  # a header that is not safetensors'
        raise TrainError(f"--init-from {path}: not a safetensors file ({exc})") from None


def _read_keras_model(path: Path) -> dict[str, Any]:
    from archc.train.keras_fit import _imports
    from archc.transfer import read_state

    keras, _ = _imports()
    try:
        return read_state(keras.saving.load_model(path, compile=False))
    except (ValueError, OSError, TypeError) as exc:
        raise TrainError(f"--init-from {path}: cannot read the Keras model ({exc})") from None


def keras_variables(graph: Any) -> dict[str, list[tuple[str, Any]]]:
    """Keras layer name (as a node name: ``<node>`` or a child ``<node>.qkv``) -> its (torch key, declared tensor)
    pairs, in declaration order, which is the order in which the Keras layer creates its variables (kernel, bias;
    gamma, beta, moving mean, moving variance)."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for name, data in graph.op_nodes():
        inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
        for tensor in data["attrs"].declared_tensors(inputs):
            if tensor.decl.keras is not None:
                child = tensor.decl.keras_place()[0]
                out.setdefault(f"{name}.{child}" if child else name, []).append((tensor.decl.key(name), tensor))
    return out


def read_weights_h5(path: Path, graph: Any) -> dict[str, Any]:
    """A Keras 3 ``.weights.h5`` read with h5py: ``layers/<kind>/vars`` holds the layer's name and its variables,
    numbered; the spec's node of that name says, by its op's tensor declarations, what each one is. Layers named
    like no node of the spec are left out."""
    import h5py
    import numpy as np

    from archc.ops.registry import ROLES

    declared = keras_variables(graph)
    state: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as handle:
            layers = handle.get("layers")
            if layers is None:
                raise TrainError(f"--init-from {path}: not a Keras 3 .weights.h5 file (no layers/ group)")
            for group in layers.values():
                variables = group.get("vars")
                layer = str(variables.attrs.get("name", "")).replace(">", ".") if variables is not None else ""
                for index, (key, tensor) in enumerate(declared.get(layer, [])):
                    if str(index) in variables:
                        value = np.asarray(variables[str(index)])
                        state[key] = ROLES[tensor.decl.role].keras_to_torch(value)
    except OSError as exc:
        raise TrainError(f"--init-from {path}: cannot read the HDF5 file ({exc})") from None
    return state


# ----------------------------------------------------------------------------------------------------- matching


def classifier_node(graph: Any) -> str | None:
    """The last node with parameters (the classifier, where the spec ends in one)."""
    last = None
    for name, data in graph.op_nodes():
        if data.get("params"):
            last = name
    return last


def match(state: dict[str, Any], target: dict[str, tuple[int, ...]], graph: Any, source: str) -> tuple[
        dict[str, Any], InitReport]:
    """The tensors of ``state`` to load into a model whose tensors are ``target`` (name -> torch-layout shape)."""
    from archc.transfer import _to_numpy, torch_only_suffixes

    classifier = classifier_node(graph)
    optional = torch_only_suffixes()
    report = InitReport(source)
    chosen: dict[str, Any] = {}
    for key, shape in target.items():
        if key not in state:
            if not key.endswith(optional):
                report.missing.append(key)
            continue
        found = tuple(_to_numpy(state[key]).shape)
        if found == tuple(shape):
            chosen[key] = state[key]
            report.matched.append(key)
        elif classifier is not None and key.rsplit(".", 1)[0] == classifier:
            report.skipped.append(f"{key} {list(found)} (model {list(shape)})")
        else:
            report.mismatched.append(f"{key}: file {list(found)}, model {list(shape)}")
    report.unexpected = [key for key in state if key not in target and not key.endswith(optional)]
    if report.mismatched:
        raise TrainError("\n".join([*report.lines(), f"--init-from {source}: {len(report.mismatched)} tensors of "
                                    "another shape (only the classifier may differ)"]))
    if not report.matched:
        raise TrainError("\n".join([*report.lines(), f"--init-from {source}: no tensor matches the spec's names"]))
    return chosen, report


def frozen_names(names: list[str], patterns: list[str]) -> list[str]:
    """The tensor names matching any --freeze pattern; TrainError for a pattern that matches nothing."""
    frozen = []
    for pattern in patterns:
        hits = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise TrainError(f"--freeze {pattern}: matches no parameter (names look like {names[0]!r})")
        frozen += [name for name in hits if name not in frozen]
    return frozen


def check_init(cfg: Any, graph: Any) -> None:
    """Before the run folder is made: FILE reads, its tensors fit the spec, every --freeze pattern matches."""
    from archc.transfer import expected_tensors

    shapes = expected_tensors(graph)
    if cfg.init_from:
        match(read_weights(cfg.init_from, graph), shapes, graph, cfg.init_from)
    if cfg.freeze:
        frozen_names([key for key in shapes if not key.endswith(("running_mean", "running_var",
                                                                  "num_batches_tracked"))], cfg.freeze)


# -------------------------------------------------------------------------------------------------------- torch


def init_torch(model: Any, graph: Any, path: str, log: Any = None) -> InitReport:
    """Load FILE's matching tensors into the torch model."""
    import torch

    state = read_weights(path, graph)
    target = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    chosen, report = match(state, target, graph, path)
    current = model.state_dict()
    with torch.no_grad():
        for key, value in chosen.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(_array(value))
            current[key].copy_(tensor.to(dtype=current[key].dtype))
    if log is not None:
        for line in report.lines():
            log(line)
    return report


def _array(value: Any) -> Any:
    import numpy as np

    return np.array(value, order="C")  # a C-ordered copy that keeps 0-d arrays 0-d (ascontiguousarray does not)


def freeze_torch(model: Any, patterns: list[str], log: Any = None) -> list[str]:
    """requires_grad=False on the matching parameters."""
    parameters = dict(model.named_parameters())
    frozen = frozen_names(list(parameters), patterns)
    for name in frozen:
        parameters[name].requires_grad_(False)
    if log is not None:
        log(f"frozen: {len(frozen)} of {len(parameters)} parameter tensors ({', '.join(patterns)})")
    return frozen


def hold_frozen_norms(model: Any) -> None:
    """BatchNorm layers whose parameters are all frozen stay in eval mode (their running statistics too)."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            parameters = list(module.parameters())
            if parameters and not any(p.requires_grad for p in parameters):
                module.eval()


# -------------------------------------------------------------------------------------------------------- Keras


def init_keras(model: Any, graph: Any, path: str, log: Any = None) -> InitReport:
    from archc.transfer import load_state, read_state

    state = read_weights(path, graph)
    target = {key: tuple(value.shape) for key, value in read_state(model).items()}
    chosen, report = match(state, target, graph, path)
    load_state(model, chosen, strict=False)
    if log is not None:
        for line in report.lines():
            log(line)
    return report


def freeze_keras(model: Any, patterns: list[str], log: Any = None) -> list[str]:
    """layer.trainable=False for layers whose tensors all match (Keras then runs their BatchNorm in inference)."""
    from archc.transfer import _keras_tensors

    held = _keras_tensors(model)
    tensors = list(held)
    frozen = frozen_names(tensors, patterns)
    count = 0
    for layer in model.layers:
        # a layer's keys by its variables, not by its name: a bare parameter's key is the layer name itself
        own = {id(weight) for weight in layer.weights}
        names = [key for key, (variable, _) in held.items() if id(variable) in own]
        if names and all(name in frozen for name in names):
            layer.trainable = False
            count += 1
    if log is not None:
        log(f"frozen: {count} layers, {len(frozen)} of {len(tensors)} tensors ({', '.join(patterns)})")
    return frozen
