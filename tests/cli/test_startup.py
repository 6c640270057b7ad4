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
    assert loaded["pydantic"] and not loaded["torch"]
    assert not loaded["networkx"]  # a summary reads the IR as expansion leaves it (archc.ir.draft)


def test_build_graph_returns_the_networkx_graph():
    loaded = loaded_after("import archc\ngraph = archc.build_graph('resnet18')\nimport networkx as nx\n"
                          "assert isinstance(graph, nx.DiGraph) and nx.is_directed_acyclic_graph(graph)")
    assert loaded["networkx"]


def test_the_parser_imports_no_spec_machinery():
    code = ("from archc.cli import build_parser\nbuild_parser(['validate']).parse_args(['validate', 'x.yaml'])\n"
            "assert not [m for m in sys.modules if m.startswith(('archc.ops', 'archc.spec', 'archc.commands'))]")
    assert not any(loaded_after(code).values())
    everything = ("from archc.cli import build_parser\nbuild_parser(None).parse_args(['diff', 'a', 'b'])\n"  # --help's
                  "assert 'archc.commands.train' in sys.modules\n"
                  "assert not [m for m in sys.modules if m.startswith(('archc.ops', 'archc.spec', 'archc.diff'))]")
    assert not any(loaded_after(everything).values())
    help_text = subprocess.run([sys.executable, "-m", "archc", "--help"], capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "validate" in help_text.stdout


def test_validate_summary_and_render_import_no_networkx():
    loaded = loaded_after("from archc.cli import main\nassert main(['validate', 'densenet121']) == 0\n"
                          "assert main(['summary', 'resnet18', '--json']) == 0 and main(['render', 'resnet18']) == 0")
    assert loaded["pydantic"] and loaded["yaml"] and not loaded["networkx"]


def test_validate_imports_neither_the_other_commands_nor_numpy():
    loaded = loaded_after("from archc.cli import main\nassert main(['validate', 'resnet18']) == 0\n"
                          "assert 'archc.diff' not in sys.modules and 'archc.train.data' not in sys.modules")
    assert not loaded["numpy"] and not loaded["rich"] and not loaded["torch"]
