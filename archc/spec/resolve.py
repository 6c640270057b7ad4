"""``extends`` (zoo name or relative path), merge rules, and ``--set`` parameter overrides.

A spec is untrusted input: ``extends:`` reads only zoo specs and ``.yaml`` / ``.yml`` files below the top-level spec's
folder (paths relative to the extending file), plus folders the user allows (``--allow-path``, ``allow_paths=``).

Merge rules: mappings merge key by key (recursively), anything else — lists included — is replaced by the child's
value, and a ``null`` in the child deletes the key. Positions follow the value that wins, so an error in an
inherited line points into the base file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from archc.errors import Diagnostic, Position, SpecError, did_you_mean
from archc.spec.loader import LMap, display_path, load_file, load_text
from archc.spec.params import check_child_params

MAX_EXTENDS_DEPTH = 16


def merge(base: Any, child: Any) -> Any:
    """Child over base: mappings merge key by key, null deletes, everything else replaces."""
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return child
    out = LMap(pos=getattr(child, "pos", None))
    for source in (base, child):
        if isinstance(source, LMap):
            out.key_pos.update(source.key_pos)
            out.value_pos.update(source.value_pos)
    for key, value in base.items():
        out[key] = value
    for key, value in child.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = merge(out[key], value)
        else:
            out[key] = value
        if isinstance(child, LMap) and key in child.key_pos:
            out.key_pos[key] = child.key_pos[key]
            out.value_pos[key] = child.value_pos[key]
    return out


#: folders besides the top-level spec's own (and the zoo) that ``extends:`` may read; set with allowed_paths()
_ALLOWED: ContextVar[tuple[Path, ...]] = ContextVar("archc_allowed_paths", default=())
ALLOW_HINT = "allow a folder with --allow-path DIR (archc.load(..., allow_paths=[DIR]))"


@contextmanager
def allowed_paths(paths: Iterable[str | Path] | None) -> Iterator[None]:
    """Let ``extends:`` read files below ``paths`` too, while the block runs (the CLI's --allow-path)."""
    token = _ALLOWED.set((*_ALLOWED.get(), *(Path(p).resolve() for p in paths or ())))
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def _is_file_name(spec_file: str | None) -> bool:
    return bool(spec_file) and not str(spec_file).startswith("<")


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)


def _locate_base(reference: str, spec_file: str | None, position: Position | None, root: Path) -> Path:
    """The file ``extends: reference`` names: a zoo spec, or a .yaml / .yml file relative to the extending file
    that stays inside the top-level spec's folder ``root``, the zoo or a folder the user allowed."""
    from archc.zoo import zoo_dir, zoo_names, zoo_path

    def refuse(message: str, hint: str | None = None) -> SpecError:
        return SpecError(Diagnostic(message, position, "extends", hint))

    if "\\" not in reference and reference.count("/") <= 1 and not Path(reference).suffix:
        path = zoo_path(reference)
        if path is None:
            raise refuse(f"unknown zoo spec '{reference}'",
                         did_you_mean(reference, zoo_names()) or "run `archc list` for the zoo")
        return path.resolve()
    if not reference.endswith((".yaml", ".yml")):
        raise refuse(f"extends takes a zoo name or a .yaml / .yml file, got '{reference}'")
    if Path(reference).is_absolute():
        candidate = Path(reference)
        if not _inside(candidate.resolve(), _ALLOWED.get()):
            raise refuse(f"extends takes a path relative to the spec, not the absolute path '{reference}'",
                         ALLOW_HINT)
    else:
        folder = Path(spec_file).parent if _is_file_name(spec_file) else Path.cwd()
        candidate = folder / reference
    resolved = candidate.resolve()
    if not _inside(resolved, (root, zoo_dir().resolve(), *_ALLOWED.get())):
        raise refuse(f"'{reference}' lies outside the folder of the spec ({display_path(root)})", ALLOW_HINT)
    if not _is_regular_file(resolved):
        raise refuse(f"no such file '{reference}'", "paths are relative to the spec that extends them")
    return resolved


def _is_regular_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _load_base(base_path: Path, reference: str, position: Position | None) -> Any:
    """Read a base spec. Until it shows itself an archc spec (a mapping with archc:), none of its text is quoted:
    ``extends: ~/.ssh/config.yml`` must not print the file."""
    try:
        base = load_file(display_path(base_path))
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            if diagnostic.position is not None:
                diagnostic.position = dataclasses.replace(diagnostic.position, line_text="")
            diagnostic.notes = []
        raise SpecError([Diagnostic(f"cannot read the spec '{reference}' extends", position, "extends"),
                         *exc.diagnostics]) from None
    if not isinstance(base, dict) or "archc" not in base:
        raise SpecError(Diagnostic(f"'{reference}' is not an archc spec (no archc: key at its top)", position,
                                   "extends"))
    return base


def resolve_extends(tree: Any, spec_file: str | None, chain: tuple[str, ...] = (), root: Path | None = None) -> Any:
    """Apply ``extends`` recursively; cycles and chains deeper than MAX_EXTENDS_DEPTH are located errors.

    ``extends`` names one base or a list of them (``[resnet50, attention/blocks]``): the bases merge in order, each
    over the ones before it, and the spec's own keys over them all. ``root``: the folder of the top-level spec (the
    working directory for a spec given as text), which bases may not leave unless allowed (see
    :func:`allowed_paths`).
    """
    if not isinstance(tree, dict) or "extends" not in tree:
        return tree
    if root is None:
        root = Path(spec_file).resolve().parent if _is_file_name(spec_file) else Path.cwd().resolve()
    written = tree["extends"]
    position = tree.where("extends") if isinstance(tree, LMap) else None
    references = written if isinstance(written, list) and written else [written]
    if not all(isinstance(reference, str) for reference in references):
        raise SpecError(Diagnostic("extends must be a zoo name or a relative path, or a list of them", position,
                                   "extends"))
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise SpecError(Diagnostic(f"the chain of extends is deeper than {MAX_EXTENDS_DEPTH}", position, "extends"))
    base: Any = None
    for reference in references:
        one = _resolved_base(reference, spec_file, chain, root, position)
        base = one if base is None else merge(base, one)
    child = LMap(pos=getattr(tree, "pos", None))
    for k, v in tree.items():
        if k != "extends":
            child[k] = v
            if isinstance(tree, LMap):
                child.key_pos[k] = tree.key_pos.get(k)
                child.value_pos[k] = tree.value_pos.get(k)
    merged = merge(base, child)
    check_child_params(base, child, merged, ", ".join(references))
    return merged


def _resolved_base(reference: str, spec_file: str | None, chain: tuple[str, ...], root: Path,
                   position: Position | None) -> Any:
    """One base of ``extends``, its own ``extends`` applied."""
    base_path = _locate_base(reference, spec_file, position, root)
    key = str(base_path)
    if key in chain or (_is_file_name(spec_file) and str(Path(spec_file).resolve()) == key):
        cycle = " -> ".join([*(Path(c).name for c in chain), Path(spec_file or "?").name, base_path.name])
        raise SpecError(Diagnostic(f"the chain of extends loops: {cycle}", position, "extends"))
    base = _load_base(base_path, reference, position)
    here = str(Path(spec_file).resolve()) if _is_file_name(spec_file) else "<string>"
    return resolve_extends(base, str(base_path), (*chain, here), root)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a YAML scalar or list (``--set layers=[2,2,2,2]``)."""
    if "=" not in text:
        raise SpecError(Diagnostic(f"--set expects key=value, got '{text}'", Position("<--set>", 1, 1, text)))
    key, _, value = text.partition("=")
    try:
        parsed = load_text(value, "<--set>") if value.strip() else ""
    except SpecError as exc:  # taking the text as a string would build a different network without a word
        cause = exc.diagnostics[0].message.removeprefix("invalid YAML: ")
        raise SpecError(Diagnostic(f"the value {value!r} is not valid YAML ({cause})",
                                   Position("<--set>", 1, len(key) + 2, text), f"params.{key.strip()}",
                                   "quote a string (--set 'name=\"a b\"'); close every [ and {")) from None
    return key.strip(), parsed


def _kind(value: Any) -> str | None:
    """What kind of value a declared default is, for checking an override against it (None: anything goes)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str) and "$" not in value:
        return "a string"
    return None


def type_mismatch(default: Any, value: Any) -> str | None:
    """``expected a list (the default is [2, 2, 2, 2])`` when ``value`` is not of the default's kind, else None."""
    expected = _kind(default)
    if expected is None or value is None or _kind(value) in (expected, None):
        return None
    written = str(default).lower() if isinstance(default, bool) else repr(default)  # false, as YAML writes it
    shown = written if len(written) <= 40 else written[:37] + "..."
    got = str(value).lower() if isinstance(value, bool) else f"{_kind(value)} {value!r}"
    return f"expected {expected} like the default {shown}, got {got}"


def apply_overrides(tree: Any, overrides: dict[str, Any]) -> Any:
    """Set ``params`` entries; an unknown name is an error with a did-you-mean (typos must not pass silently)."""
    if not overrides:
        return tree
    params = tree.get("params") if isinstance(tree, dict) else None
    if not isinstance(params, dict):
        params = LMap()
    problems = []
    new_params = LMap(params, pos=getattr(params, "pos", None))
    if isinstance(params, LMap):
        new_params.key_pos.update(params.key_pos)
        new_params.value_pos.update(params.value_pos)
    for key, value in overrides.items():
        if key not in params:
            problems.append(Diagnostic(f"unknown parameter '{key}'", Position("<--set>", 1, 1, f"{key}={value}"),
                                       f"params.{key}",
                                       did_you_mean(key, list(params)) or
                                       f"known parameters: {', '.join(params) or 'none'}"))
            continue
        where = Position("<--set>", 1, len(key) + 2, f"{key}={value}")
        mismatch = type_mismatch(params[key], value)
        if mismatch:
            problems.append(Diagnostic(mismatch, where, f"params.{key}"))
            continue
        new_params[key] = value
        new_params.value_pos[key] = where
    if problems:
        raise SpecError(problems)
    out = LMap(tree, pos=getattr(tree, "pos", None))
    if isinstance(tree, LMap):
        out.key_pos.update(tree.key_pos)
        out.value_pos.update(tree.value_pos)
    out["params"] = new_params
    return out
