"""Golden error texts: each broken spec in cases/ and what `archc validate` prints for it, in expected/.

Re-record after a deliberate change of wording with ``ARCHC_ACCEPT=1 pytest tests/errors`` and review the diff.
A case may start with ``# args: ...`` for extra command-line arguments (``--set``). Paths are relative to this
folder, so the texts do not depend on where the repository lives.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from archc.cli import main

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.yaml"))


def validate_output(case: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    first_line = case.read_text(encoding="utf-8").splitlines()[0]
    extra = shlex.split(first_line.split(":", 1)[1]) if first_line.startswith("# args:") else []
    status = main(["validate", f"cases/{case.name}", *extra])
    out, err = capsys.readouterr()
    return status, out + err


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_golden_error_text(case, capsys, monkeypatch):
    monkeypatch.chdir(HERE)
    status, text = validate_output(case, capsys)
    assert status == 2
    assert "Traceback" not in text
    expected = HERE / "expected" / f"{case.stem}.txt"
    if os.environ.get("ARCHC_ACCEPT") == "1":
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"no expected text for {case.name}; record it with ARCHC_ACCEPT=1"
    assert text == expected.read_text(encoding="utf-8")


def test_every_expected_text_has_a_case():
    stems = {case.stem for case in CASES}
    assert {path.stem for path in (HERE / "expected").glob("*.txt")} <= stems
