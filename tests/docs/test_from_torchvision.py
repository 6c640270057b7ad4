"""The tutorial docs/from-torchvision.md quotes specs/mobilenet_v2.yaml: every line of its YAML excerpts is a line of
the spec (comments aside), so the tutorial cannot drift from the spec the zoo tests check."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "from-torchvision.md"
SPEC = ROOT / "specs" / "mobilenet_v2.yaml"


def _code(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def test_every_excerpt_line_is_in_the_spec():
    spec_lines = {_code(line) for line in SPEC.read_text().splitlines()}
    excerpts = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(excerpts) >= 4
    quoted = [_code(line) for block in excerpts for line in block.splitlines() if _code(line)]
    assert [line for line in quoted if line not in spec_lines] == []
