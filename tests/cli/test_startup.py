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


def test_a_command_reads_the_installed_metadata_once():
    """networkx (2 groups), pydantic and archc's op plugins each ask for entry points: one scan answers them all."""
    probe = ("from importlib import metadata\nscans = []\noriginal = metadata.distributions\n"
             "metadata.distributions = lambda **kw: scans.append(1) or original(**kw)\n"
             "from archc.cli import main\nassert main(['validate', 'resnet18']) == 0\n"
             "import networkx, pydantic.plugin._loader as loader\n"
             "assert loader._plugins is not None and 'archc.ops' in sys.modules\n"
             "print(json.dumps({'scans': len(scans), 'restored': metadata.entry_points.__module__}))")
    code = f"import sys, json\n{probe}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"scans": 1, "restored": "importlib.metadata"}


def test_the_shared_scan_answers_as_the_standard_one():
    from importlib import metadata

    from archc.entrypoints import shared_scan

    groups = ["console_scripts", "pytest11", "archc.ops", "networkx.backends", "pydantic", "no.such.group"]

    def scan() -> dict[str, list[tuple[str, str]]]:
        return {group: sorted((e.name, e.value) for e in metadata.entry_points(group=group)) for group in groups}

    standard = scan()
    with shared_scan():
        with shared_scan():  # nested windows (archc.cli.main called from a command) share the scan
            assert scan() == standard
        assert scan() == standard and metadata.entry_points.__module__ == "archc.entrypoints"
    assert metadata.entry_points.__module__ == "importlib.metadata" and scan() == standard
    assert standard["console_scripts"] and not standard["no.such.group"]
