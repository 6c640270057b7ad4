"""Does a checkpoint belong to this spec? Tensor-by-tensor and spec-by-spec differences, in words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archc.train.errors import TrainError

MAX_LISTED = 12


def tensor_differences(saved: Mapping[str, Sequence[int]], current: Mapping[str, Sequence[int]]) -> list[str]:
    """One line per tensor of another shape, then per tensor only in the checkpoint, then only in the model."""
    names = sorted(set(saved) | set(current))
    reshaped = [f"{name}: checkpoint {list(saved[name])}, model {list(current[name])}" for name in names
                if name in saved and name in current and list(saved[name]) != list(current[name])]
    unexpected = [f"{name}: in the checkpoint {list(saved[name])}, not in the model" for name in names
                  if name not in current]
    missing = [f"{name}: in the model {list(current[name])}, not in the checkpoint" for name in names
               if name not in saved]
    return reshaped + unexpected + missing


def spec_differences(saved: Any, current: Any, path: str = "") -> list[str]:
    """Paths where two resolved specs (plain data) differ: ``params.width: 16 -> 32``."""
    if isinstance(saved, dict) and isinstance(current, dict):
        lines = []
        for key in list(saved) + [k for k in current if k not in saved]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in current:
                lines.append(f"{sub}: removed")
            elif key not in saved:
                lines.append(f"{sub}: added")
            else:
                lines.extend(spec_differences(saved[key], current[key], sub))
        return lines
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        return [line for i, (a, b) in enumerate(zip(saved, current)) for line in spec_differences(a, b, f"{path}[{i}]")]
    if saved != current:
        return [f"{path or '(spec)'}: {_short(saved)} -> {_short(current)}"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_checkpoint(where: str, saved_digest: str, saved_spec: Any, saved_shapes: Mapping[str, Sequence[int]],
                     spec: Any, current_shapes: Mapping[str, Sequence[int]]) -> None:
    """TrainError unless the checkpoint was made from this very spec; it names the tensors that do not fit."""
    digest = spec.digest()
    tensors = tensor_differences(saved_shapes, current_shapes)
    if saved_digest == digest and not tensors:
        return
    saved_name = saved_spec.get("name", "?") if isinstance(saved_spec, dict) else "?"
    lines = [f"{where} was saved from spec '{saved_name}' (digest {saved_digest}); this is spec '{spec.name}' "
             f"(digest {digest})"]
    if tensors:
        lines.append(f"{len(tensors)} tensor{'s' if len(tensors) != 1 else ''} do not fit:")
        lines += [f"  {line}" for line in tensors[:MAX_LISTED]]
        if len(tensors) > MAX_LISTED:
            lines.append(f"  ... and {len(tensors) - MAX_LISTED} more")
    else:
        lines.append("every tensor fits, but the specs differ:")
    differences = spec_differences(saved_spec, spec.to_data()) if isinstance(saved_spec, dict) else []
    if differences:
        if tensors:
            lines.append("the specs differ at:")
        lines += [f"  {line}" for line in differences[:MAX_LISTED]]
        if len(differences) > MAX_LISTED:
            lines.append(f"  ... and {len(differences) - MAX_LISTED} more")
    lines.append("resume with the run's own spec (leave SPEC out: `archc train --resume RUN_DIR`)")
    raise TrainError("\n".join(lines))
