"""Running Graphviz ``dot`` to turn DOT text into SVG or PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `dnf install graphviz` (Fedora), "
                "`brew install graphviz` (macOS) or `conda install graphviz`")


class GraphvizMissing(RuntimeError):
    """``dot`` is not on PATH (nor named by the ARCHC_DOT environment variable)."""


def find_dot() -> str | None:
    """The ``dot`` executable: $ARCHC_DOT if set, else the one on PATH."""
    explicit = os.environ.get("ARCHC_DOT")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("dot")


def run_dot(dot_text: str, output_format: str, timeout: float = 600.0) -> bytes:
    """Lay out and render ``dot_text`` as ``svg`` or ``png``; raises GraphvizMissing or RuntimeError."""
    executable = find_dot()
    if executable is None:
        raise GraphvizMissing(f"Graphviz `dot` was not found; {INSTALL_HINT}")
    arguments = [executable, f"-T{output_format}"]
    if output_format == "png":
        arguments.append("-Gdpi=110")
    result = subprocess.run(arguments, input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"dot failed ({result.returncode}): {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
