"""Start-up cost: CPU time of ``import archc`` and ``archc validate specs/densenet121.yaml`` against ``python -c
pass``, in one run, optionally against an older commit of archc (``--baseline REF``).

    python bench/startup.py --baseline afc5450 --repeats 15

Each command runs in a fresh interpreter (bytecode caches written, as an installed archc has them), rounds
alternating between the commands; the CPU time (user + system) of each child comes from ``getrusage``. Shown: the
median per command and its overhead over ``python -c pass``; with ``--baseline`` the same commands import the
archc of REF (extracted with ``git archive`` into a temporary folder) and the ratio baseline / now is printed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "specs/densenet121.yaml"


def commands(source: Path) -> dict[str, list[str]]:
    """The measured commands, importing archc from ``source`` (first on sys.path)."""
    prefix = f"import sys; sys.path.insert(0, {str(source)!r}); "
    return {"import archc": [sys.executable, "-c", prefix + "import archc"],
            "archc validate densenet121": [sys.executable, "-c", prefix + f"from archc.cli import main; "
                                           f"raise SystemExit(main(['validate', {SPEC!r}]))"]}


def cpu_seconds(command: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def extract(ref: str, folder: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref, "archc"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--baseline", metavar="REF", help="also measure the archc of this git commit")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        measured = {"python -c pass": [sys.executable, "-c", "pass"]}
        measured.update({f"{name} (now)": cmd for name, cmd in commands(ROOT).items()})
        if args.baseline:
            base = extract(args.baseline, Path(tmp))
            measured.update({f"{name} ({args.baseline})": cmd for name, cmd in commands(base).items()})
        for command in measured.values():  # write the bytecode caches before timing
            cpu_seconds(command, env)
        samples: dict[str, list[float]] = {key: [] for key in measured}
        keys = list(measured)
        for repeat in range(args.repeats):
            shift = repeat % len(keys)
            for key in keys[shift:] + keys[:shift]:
                samples[key].append(cpu_seconds(measured[key], env))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    floor = medians["python -c pass"]
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')}  Python {sys.version.split()[0]}, "
          f"{args.repeats} alternating rounds, medians of child CPU time (user + system)\n")
    print("| command | CPU s | over `python -c pass` |")
    print("|---|---:|---:|")
    for key, value in medians.items():
        print(f"| {key} | {value:.3f} | {value - floor:.3f} |")
    if args.baseline:
        print()
        for name in commands(ROOT):
            old, new = medians[f"{name} ({args.baseline})"] - floor, medians[f"{name} (now)"] - floor
            print(f"{name}: {old:.3f} s -> {new:.3f} s over python -c pass: {old / new:.1f}x less")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
