"""The spec zoo: the YAML files of ``specs/``, shipped in the wheel as ``archc.specs`` and addressable by name."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path


@cache
def zoo_dir() -> Path:
    """The folder holding the zoo specs (installed package data, or the source tree's specs/)."""
    try:
        from importlib.resources import files

        folder = Path(str(files("archc.specs")))
        if folder.is_dir():
            return folder
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "specs"


def zoo_names() -> list[str]:
    """Names of all zoo specs, sorted."""
    return sorted(path.stem for path in zoo_dir().glob("*.yaml"))


def zoo_path(name: str) -> Path | None:
    """Path of the zoo spec called ``name``, or None."""
    # one level of folders (``attention/blocks``): libraries of templates that specs extend, not models of the zoo
    if not isinstance(name, str) or not re.fullmatch(r"([A-Za-z0-9_][A-Za-z0-9_\-]*/)?[A-Za-z0-9_][A-Za-z0-9_.\-]*",
                                                     name):
        return None
    path = zoo_dir() / f"{name}.yaml"
    try:
        return path if path.is_file() else None
    except OSError:  # a name too long for the file system
        return None
