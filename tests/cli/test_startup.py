"""Start-up stays lazy (bench/startup.py measures the CPU time): ``import archc`` loads none of its dependencies, and
a command imports only what it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["networkx", "pydantic", "yaml", "rich", "numpy", "torch", "tensorflow"]


def loaded_after(code: str) -> dict[str, bool]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_archc_loads_no_dependency():
    assert not any(loaded_after("import archc").values())


def test_public_names_load_on_first_use():
    loaded = loaded_after("import archc\nassert archc.summarize('resnet18').params == 11689512\n"
                          "assert archc.SpecError.__module__ == 'archc.errors' and archc.api.load is archc.load")
    assert loaded["networkx"] and loaded["pydantic"] and not loaded["torch"]


def test_validate_imports_neither_the_other_commands_nor_numpy():
    loaded = loaded_after("from archc.cli import main\nassert main(['validate', 'resnet18']) == 0\n"
                          "assert 'archc.diff' not in sys.modules and 'archc.train.data' not in sys.modules")
    assert not loaded["numpy"] and not loaded["rich"] and not loaded["torch"]
