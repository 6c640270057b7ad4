"""Expansion CPU time of two archc source trees, each in its own process: the expander split of issue 12 against
the tree before it (ratios are what to read; the machine is shared).

    .venv/bin/python bench/expander_split.py OLD_TREE NEW_TREE   # e.g. a `git archive` of the older commit

Prints, per spec, the best of 7 ``archc.build_graph(archc.parse(spec))`` CPU times (``time.process_time``) of each
tree and the ratio new / old.
"""

from __future__ import annotations

import subprocess
import sys

SPECS = {
    "densenet121": "densenet121",
    "resnet1202": "resnet1202",
    "repeat 5,000 x conv/bn/relu": ("archc: 1\nname: r\ninput: {shape: [16, 32, 32]}\nnetwork:\n  - repeat: 5000\n"
                                    "    body:\n      - {conv: {out: 16, kernel: 3, bias: false}}\n      - bn\n"
                                    "      - relu\n"),
}

MEASURE = """
import sys, time
sys.path.insert(0, sys.argv[1])
import archc
source = sys.stdin.read()
best = 1e9
for _ in range(7):
    start = time.process_time()
    archc.build_graph(archc.parse(source))
    best = min(best, time.process_time() - start)
print(best * 1000)
"""


def cpu_ms(tree: str, source: str) -> float:
    result = subprocess.run([sys.executable, "-c", MEASURE, tree], input=source, capture_output=True, text=True,
                            check=True)
    return float(result.stdout)


def main() -> None:
    old, new = sys.argv[1], sys.argv[2]
    print(f"{'spec':<30} {'old CPU ms':>10} {'new CPU ms':>10} {'new/old':>8}")
    for name, source in SPECS.items():
        a, b = cpu_ms(old, source), cpu_ms(new, source)
        print(f"{name:<30} {a:>10.1f} {b:>10.1f} {b / a:>8.2f}")


if __name__ == "__main__":
    main()
