"""``archc weights convert``: move a checkpoint between the torch and Keras backends by node name.

    archc weights convert --spec resnet18 --from resnet18.pt --to resnet18.weights.h5
    archc weights convert --spec resnet18 --from resnet18.weights.h5 --to resnet18.pt
    archc weights convert --from runs/resnet18-20261201-081500/checkpoints/last.pt --to resnet18.weights.h5

``.pt`` / ``.pth``: a torch ``state_dict`` saved with ``torch.save``, or a checkpoint holding one (``archc train``'s,
whose spec is used when ``--spec`` is left out, or one wrapping it under ``state_dict`` / ``model``).
``.safetensors``: a torch ``state_dict`` in safetensors (``archc export``'s). ``.weights.h5``: Keras
``save_weights`` of the spec's Keras model. ``.keras``: a whole Keras model file (read, or written with the
converted weights).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

TORCH_SUFFIXES = (".pt", ".pth", ".safetensors")  # a .safetensors file holds a torch state_dict (archc export's)
KERAS_SUFFIXES = (".weights.h5", ".keras")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("weights", help="convert weight files between the torch and keras backends",
                                   description="convert weight files between the torch and keras backends")
    actions = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    convert = actions.add_parser(
        "convert", help="convert a torch state_dict (.pt) to Keras weights (.weights.h5) or back, by node name",
        description="Convert a checkpoint of SPEC between frameworks, by node name (conv OIHW <-> HWIO, linear "
                    "transposed, BatchNorm statistics). The direction follows the file suffixes: .pt / .pth is a "
                    "torch state_dict (or an archc train checkpoint, whose spec is used without --spec), "
                    ".safetensors a torch state_dict in safetensors, .weights.h5 is Keras save_weights, .keras a "
                    "whole Keras model.",
        epilog="examples:\n  archc weights convert --spec resnet18 --from resnet18.pt --to resnet18.weights.h5\n"
               "  archc weights convert --from runs/resnet18-20261201-081500/checkpoints/last.pt --to r18.keras",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    convert.add_argument("--spec", help="the spec the weights belong to (a file or a zoo name; default: the spec "
                                        "stored in an `archc train` checkpoint)")
    convert.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a spec parameter (repeatable), as for the other commands")
    convert.add_argument("--from", dest="source", required=True, metavar="FILE", help="weights to read")
    convert.add_argument("-o", "--output", "--to", dest="target", required=True, metavar="FILE",
                         help="weights to write (-o / --output, like every command; --to is the old spelling)")
    convert.add_argument("--force", action="store_true", help="overwrite --to if it exists")
    convert.set_defaults(func=cmd_convert)


def _kind(path: Path, option: str) -> str:
    from archc.cli import UsageError

    if path.name.endswith(TORCH_SUFFIXES):
        return "torch"
    if path.name.endswith(KERAS_SUFFIXES):
        return "keras"
    raise UsageError(f"{option} {path}: unknown weight format; use a torch state_dict ({', '.join(TORCH_SUFFIXES)}) "
                     f"or Keras weights ({', '.join(KERAS_SUFFIXES)})")


def cmd_convert(args: argparse.Namespace) -> int:
    import archc
    from archc.cli import UsageError, _check_writable
    from archc.transfer import TransferError

    source, target = Path(args.source), Path(args.target)
    source_kind, target_kind = _kind(source, "--from"), _kind(target, "--to")
    if "torch" in (source_kind, target_kind):
        import torch  # noqa: F401  (before TensorFlow: the other order can crash torch's compiler stack)
    if not source.is_file():
        raise UsageError(f"--from {source}: no such file")
    _check_writable(target, args.force)
    spec = args.spec if args.spec else _checkpoint_spec(source, source_kind)
    graph = archc.build_graph(archc.parse(spec, args.overrides))
    try:
        state = _read_torch(source) if source_kind == "torch" else _read_keras(graph, source)
        if target_kind == "torch":
            _write_torch(graph, state, target)
        else:
            _write_keras(graph, state, target)
    except TransferError as exc:
        raise UsageError(f"{source} does not fit {graph.graph['name']}: {exc}") from None
    print(f"wrote {target} ({len(state)} tensors from {source})")
    return 0


def _read_torch(path: Path) -> dict[str, Any]:
    import pickle

    import torch

    from archc.cli import UsageError
    from archc.transfer import read_state

    if path.name.endswith(".safetensors"):
        from archc.train.errors import TrainError
        from archc.train.init_from import read_safetensors

        try:
            return read_state(read_safetensors(path))
        except TrainError as exc:
            raise UsageError(str(exc).replace("--init-from", "--from")) from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--from {path}: not a torch state_dict ({first_line}); save one with "
                         "torch.save(model.state_dict(), path)") from None
    data = unwrap_state_dict(data)
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UsageError(f"--from {path}: expected a state_dict (a mapping of names to tensors), got "
                         f"{type(data).__name__}")
    return read_state(data)


def unwrap_state_dict(data: Any) -> Any:
    """The state_dict inside a checkpoint: ``archc train``'s (under ``model``), timm's and Lightning's
    (``state_dict``), and others' (``model_state_dict``, ``model``)."""
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            return data[key]
    return data


def _checkpoint_spec(path: Path, kind: str) -> Any:
    """The resolved spec an `archc train` checkpoint stores, for --from without --spec."""
    from archc.cli import UsageError

    spec = None
    if path.is_file() and kind == "torch":
        import torch

        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # unreadable: reported below as a missing --spec, then by the reader
            data = None
        spec = data.get("spec") if isinstance(data, dict) else None
    elif path.is_file() and path.name.endswith(".keras"):
        from archc.train.errors import TrainError
        from archc.train.keras_fit import read_state as read_keras_state

        try:
            spec = read_keras_state(path).get("spec")
        except TrainError:
            spec = None
    if not isinstance(spec, dict):
        raise UsageError(f"--from {path} does not say which spec it belongs to; give --spec SPEC")
    return spec


def _keras_model(graph: Any) -> Any:
    from archc.backends.keras import build_model

    return build_model(graph, seed=0)


def _read_keras(graph: Any, path: Path) -> dict[str, Any]:
    from archc.cli import UsageError
    from archc.transfer import read_state

    if path.name.endswith(".keras"):
        from archc.backends.keras.quiet import import_keras

        keras = import_keras()
        try:
            return read_state(keras.saving.load_model(path, compile=False, safe_mode=True))
        except (ValueError, OSError) as exc:
            raise UsageError(f"--from {path}: cannot read the Keras model ({exc})") from None
    model = _keras_model(graph)
    try:
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as exc:
        raise UsageError(f"--from {path}: does not hold the weights of {graph.graph['name']}'s Keras model ({exc})"
                         ) from None
    return read_state(model)


def _write_keras(graph: Any, state: dict[str, Any], path: Path) -> None:
    from archc.backends.keras import save
    from archc.transfer import load_state

    model = _keras_model(graph)
    load_state(model, state)
    save(model, graph, path)


def _computed_buffers(graph: Any, keys: list[str]) -> dict[str, Any]:
    """The values of buffers that Keras holds as constants of its graph (Swin's relative_position_index), as the torch
    backend computes them; step counters (role "step counter") are left to the caller. Builds the torch model only
    where such a buffer is missing."""
    from archc.ops.registry import ROLES

    wanted = set()
    for name, data in graph.op_nodes():
        inputs = [graph.nodes[source]["shape"] for source in data["inputs"]]
        wanted |= {t.decl.key(name) for t in data["attrs"].declared_tensors(inputs)
                   if t.decl.key(name) in keys and ROLES[t.decl.role].counted}
    if not wanted:
        return {}
    from archc.backends.torch import build_model

    return {key: value for key, value in build_model(graph, seed=0).state_dict().items() if key in wanted}


def _write_torch(graph: Any, state: dict[str, Any], path: Path) -> None:
    """A state_dict in graph order, with every tensor the torch backend's model holds (checked against the spec)."""
    import numpy as np
    import torch

    from archc.transfer import check_state, expected_tensors, torch_only_suffixes

    shapes = expected_tensors(graph)
    check_state(state, {key: shape for key, shape in shapes.items() if not key.endswith(torch_only_suffixes())}, True)
    computed = _computed_buffers(graph, [key for key in shapes if key not in state])
    out = {}
    for key in shapes:
        if key in state:
            out[key] = torch.from_numpy(np.ascontiguousarray(state[key]))
        else:  # BatchNorm's step counter (Keras has none), or a buffer computed from the op's arguments
            out[key] = computed.get(key, torch.tensor(0, dtype=torch.long))
    from archc.train.rundir import atomic_path, atomic_write

    if path.name.endswith(".safetensors"):
        from safetensors.torch import save_file

        with atomic_path(Path(path)) as tmp:  # no half-written file under its name
            save_file({key: value.contiguous() for key, value in out.items()}, str(tmp), metadata={"format": "pt"})
    else:
        atomic_write(Path(path), lambda handle: torch.save(out, handle))  # no half-written file under its name
