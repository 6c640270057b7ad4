"""Compile speed: spec -> validated graph (archc.parse + archc.build_graph), in one process.

    .venv/bin/python bench/compile_speed.py            # every zoo spec, then generated 100 / 1,000 / 10,000 layers
    .venv/bin/python bench/compile_speed.py --profile  # cProfile of the 10,000-layer spec, top 25 functions

Generated specs are conv -> bn -> relu layers (3 nodes each) on a [16, 32, 32] input, written two ways: as a literal
YAML list of items, and as one ``repeat:``. Times are the best of ``--repeat`` runs, wall clock and process CPU time
(the CPU time is the steadier number on a shared machine). Targets (issue 2): time linear in nodes (10x the
layers within 15x the time), 10,000 layers under 2 s, densenet121 under 100 ms. Exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import platform
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import archc  # noqa: E402
from archc.zoo import zoo_names  # noqa: E402

LAYER = "  - {conv: {out: 16, kernel: 3, bias: false}}\n  - bn\n  - relu\n"


def literal_spec(layers: int) -> str:
    return f"archc: 1\nname: literal{layers}\ninput: {{shape: [16, 32, 32]}}\nnetwork:\n" + LAYER * layers


def repeat_spec(layers: int) -> str:
    return (f"archc: 1\nname: repeat{layers}\ninput: {{shape: [16, 32, 32]}}\nnetwork:\n"
            f"  - repeat: {layers}\n    body:\n" + LAYER.replace("  - ", "      - "))


def compile_once(source: str) -> int:
    return len(archc.build_graph(archc.parse(source))) - 1  # op nodes (without the input)


def best_of(runs: int, source: str) -> tuple[float, float, int]:
    wall, cpu, nodes = float("inf"), float("inf"), 0
    for _ in range(runs):
        gc.collect()
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        nodes = compile_once(source)
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, nodes


def row(label: str, wall: float, cpu: float, nodes: int) -> str:
    return (f"{label:28s} {nodes:8,d} {wall * 1e3:10.1f} {cpu * 1e3:10.1f} {cpu * 1e6 / nodes:12.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per spec; the best is reported")
    parser.add_argument("--no-zoo", action="store_true", help="only the generated specs")
    parser.add_argument("--profile", action="store_true", help="profile the 10,000-layer literal spec and exit")
    args = parser.parse_args()

    if args.profile:
        text = literal_spec(10_000)
        compile_once(literal_spec(10))
        profile = cProfile.Profile()
        profile.runcall(compile_once, text)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return 0

    print(f"archc {archc.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}")
    header = f"{'spec':28s} {'nodes':>8s} {'wall ms':>10s} {'CPU ms':>10s} {'CPU ms/1k n':>12s}"
    compile_once(literal_spec(10))  # imports and caches warm
    results: dict[str, tuple[float, float, int]] = {}
    if not args.no_zoo:
        print(header)
        for name in zoo_names():
            results[name] = best_of(args.repeat, name)
            print(row(name, *results[name]))
        print()
    print(header)
    generators: dict[str, Callable[[int], str]] = {"literal": literal_spec, "repeat": repeat_spec}
    for kind, make in generators.items():
        for layers in (100, 1_000, 10_000):
            label = f"{kind} {layers:,} layers"
            results[label] = best_of(args.repeat if layers < 10_000 else max(1, args.repeat - 1), make(layers))
            print(row(label, *results[label]))

    failures = []
    for kind in generators:
        small, large = results[f"{kind} 1,000 layers"], results[f"{kind} 10,000 layers"]
        # linear: 10x the layers cost about 10x the time (quadratic would be 100x); the per-node cost grows a
        # little as the working set outgrows the CPU caches, so the bound is 15x
        if large[1] > 15 * small[1]:
            failures.append(f"{kind}: not linear (10x the layers took {large[1] / small[1]:.1f}x the CPU time)")
        if large[1] >= 2.0:
            failures.append(f"{kind} 10,000 layers: {large[1]:.2f} s of CPU time (target < 2 s)")
    if "densenet121" in results and results["densenet121"][1] >= 0.1:
        failures.append(f"densenet121: {results['densenet121'][1] * 1e3:.0f} ms of CPU time (target < 100 ms)")
    print()
    print("targets: " + ("all met" if not failures else "MISSED\n  " + "\n  ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
