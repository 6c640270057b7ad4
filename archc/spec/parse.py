"""Spec sources (path, zoo name, YAML text, dict) -> a resolved, validated ``Spec``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from archc.errors import Diagnostic, Position, SpecError, did_you_mean
from archc.spec.loader import LMap, display_path, load_file, load_text
from archc.spec.model import FORMAT_VERSION, SpecModel
from archc.spec.resolve import allowed_paths, apply_overrides, parse_override, resolve_extends
from archc.spec.validation import diagnostics_from_validation


@dataclass
class Spec:
    """A spec after ``extends`` and overrides, validated at the top level. ``tree`` keeps source positions."""

    model: SpecModel
    tree: LMap
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.tree.get("params") or {})

    def to_data(self) -> dict[str, Any]:
        """The resolved spec as plain data (what `archc render --resolved` prints)."""
        return _plain(self.tree)

    def digest(self) -> str:
        """A stable hash of the resolved spec; checkpoints record it."""
        text = json.dumps(self.to_data(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _locate_dict(data: Any) -> Any:
    """Wrap a plain Python dict (from archc.parse(dict)) in located containers without positions."""
    if isinstance(data, dict):
        out = LMap(pos=None)
        for key, value in data.items():
            out[key] = _locate_dict(value)
        return out
    if isinstance(data, list):
        from archc.spec.loader import LList

        out_list = LList(pos=None)
        out_list.extend(_locate_dict(item) for item in data)
        return out_list
    return data


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL byte, is no file
        return False


def read_source(source: Any) -> tuple[Any, str | None]:
    """Load a spec from a path, a zoo name, YAML text or a dict; returns (tree, file name or None)."""
    from archc.zoo import zoo_names, zoo_path

    if isinstance(source, Spec):
        return source.tree, source.source
    if isinstance(source, dict):
        return _locate_dict(source), None
    if isinstance(source, Path):
        return load_file(source), str(source)
    if not isinstance(source, str):
        raise SpecError(f"expected a spec path, zoo name, YAML text or dict, got {type(source).__name__}")
    path = Path(source) if "\n" not in source and len(source) < 4096 else None
    if path is None or (":" in source or "{" in source) and not _is_file(path):
        return load_text(source, "<string>"), None
    if _is_file(path):
        return load_file(path), str(path)
    zoo = zoo_path(source)
    if zoo is not None:
        zoo = display_path(zoo)
        return load_file(zoo), str(zoo)
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError):
        is_dir = False
    if is_dir:
        raise SpecError(Diagnostic(f"{source} is a folder, not a spec file"))
    try:
        special = path.exists()  # neither a file nor a folder: a device, a pipe, a socket
    except (OSError, ValueError):
        special = False
    if special:
        raise SpecError(Diagnostic(f"{source} is not a regular file (a device, a pipe or a socket?)"))
    if source.endswith((".yaml", ".yml")) or "/" in source:
        raise SpecError(Diagnostic(f"no such file: {source}"))
    raise SpecError(Diagnostic(f"'{source}' is neither a file nor a zoo spec",
                               hint=did_you_mean(source, zoo_names()) or "run `archc list` for the zoo"))


def parse(source: Any, overrides: dict[str, Any] | list[str] | None = None,
          allow_paths: list[str | Path] | None = None, **params: Any) -> Spec:
    """Read, resolve (``extends``, overrides) and validate a spec's top level.

    ``source``: a path, a zoo name (``"resnet50"``), YAML text, a dict, or a Spec. ``overrides`` / ``params`` set
    entries of ``params`` (a list of ``"key=value"`` strings is accepted, as from ``--set``). ``extends:`` reads
    zoo specs and files below the spec's folder, and below the folders of ``allow_paths``.
    Raises SpecError with every problem found.
    """
    tree, file = read_source(source)
    if not isinstance(tree, dict):
        raise SpecError(Diagnostic("a spec is a YAML mapping with archc:, name:, input: and network:",
                                   Position(file or "<string>", 1, 1)))
    with allowed_paths(allow_paths):
        tree = resolve_extends(tree, file)
    merged: dict[str, Any] = {}
    if isinstance(overrides, list):
        merged.update(parse_override(text) for text in overrides)
    elif overrides:
        merged.update(overrides)
    merged.update(params)
    tree = apply_overrides(tree, merged)
    if "archc" in tree and tree["archc"] != FORMAT_VERSION:
        raise SpecError(Diagnostic(f"unsupported format version archc: {tree['archc']!r}",
                                   tree.where("archc") if isinstance(tree, LMap) else None, "archc",
                                   f"this archc reads archc: {FORMAT_VERSION}"))
    try:
        model = SpecModel.model_validate(dict(tree))
    except ValidationError as exc:
        diagnostics = diagnostics_from_validation(exc, tree, "", SpecModel, getattr(tree, "pos", None))
        error = SpecError(diagnostics)
        error.partial = _partial_spec(tree, exc, file, merged)
        raise error from None
    return Spec(model=model, tree=tree, source=file, overrides=merged)


def _partial_spec(tree: LMap, exc: ValidationError, file: str | None, overrides: dict[str, Any]) -> Spec | None:
    """The spec without its unknown keys (and a placeholder for a bad name or description), if that is valid: it is
    expanded too, so that `archc validate` reports the network's problems along with the top-level ones."""
    import copy

    partial = copy.copy(tree)
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if error["type"] == "extra_forbidden" and loc:
            holder = partial
            for part in loc[:-1]:
                if not isinstance(holder, dict) or part not in holder:
                    return None
                holder[part] = copy.copy(holder[part])
                holder = holder[part]
            if isinstance(holder, dict):
                holder.pop(loc[-1], None)
        elif loc and loc[0] in ("name", "description"):
            partial[loc[0]] = "spec" if loc[0] == "name" else ""
        else:
            return None
    try:
        model = SpecModel.model_validate(dict(partial))
    except ValidationError:
        return None
    return Spec(model=model, tree=partial, source=file, overrides=overrides)
