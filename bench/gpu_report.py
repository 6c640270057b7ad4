"""Collect what bench/gpu.sh measured into one JSON file and the BENCHMARKS.md table of the GPU check.

    python bench/gpu_report.py --folder OUT --json OUT/gpu.json --markdown BENCHMARKS.md

Reads ``OUT/env.json`` (card, versions), ``OUT/torch_vs_torchvision.json``, ``OUT/train_<model>.jsonl`` (the
``metrics.jsonl`` of an ``archc train`` run on synthetic data: the last epoch's images/s) and
``OUT/memory_efficient.json``; a missing part (a step that failed or ran out of time) is reported as missing. The
markdown section between ``<!-- gpu.sh begin -->`` and ``<!-- gpu.sh end -->`` is replaced (appended if absent).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BEGIN, END = "<!-- gpu.sh begin -->", "<!-- gpu.sh end -->"
#: issue 14's goals on an H200: archc train's default path, images/s
TRAIN_GOALS = {"resnet50": 6770, "densenet121": 4400}


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def train_rate(path: Path) -> float | None:
    """Images/s of the last epoch of an ``archc train`` run (the first one includes torch.compile's warm-up)."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    rates = [row["images_per_s"] for row in rows if "images_per_s" in row]
    return rates[-1] if rates else None


def collect(folder: Path) -> dict:
    report = {"env": read_json(folder / "env.json") or {}, "torch_vs_torchvision": read_json(
        folder / "torch_vs_torchvision.json"), "memory_efficient": read_json(folder / "memory_efficient.json"),
        "archc_train": {}}
    for path in sorted(folder.glob("train_*.jsonl")):
        model = path.stem.removeprefix("train_")
        report["archc_train"][model] = {"images_per_s": train_rate(path), "goal": TRAIN_GOALS.get(model)}
    return report


def markdown(report: dict) -> str:
    env = report["env"]
    lines = [BEGIN, "", f"Card: {env.get('card', 'unknown')}; torch {env.get('torch', '?')}, CUDA "
             f"{env.get('cuda', '?')}; date {env.get('date', '?')}; command `bash bench/gpu.sh`.", ""]
    tv = report["torch_vs_torchvision"]
    if tv:
        lines += [f"archc vs torchvision, batch {tv['batch_size']}, {tv['image_size']}², {tv['numerics']} "
                  "(goal: every ratio >= 1.00):", "", "| model | metric | archc | torchvision | ratio |",
                  "|---|---|---:|---:|---:|"]
        for row in tv["rows"]:
            medians = row["medians"]
            lines.append(f"| {row['model']} | {row['metric']} ({row['unit']}) | {medians['archc']:.1f} | "
                         f"{medians['torchvision']:.1f} | {row['ratio']:.3f} |")
    else:
        lines.append("archc vs torchvision: missing (the step failed or ran out of time).")
    lines += ["", "`archc train` default path (bf16, channels-last, torch.compile, fused SGD), synthetic data, "
              "batch 256, last epoch:", "", "| model | img/s | goal |", "|---|---:|---:|"]
    for model, result in report["archc_train"].items():
        rate = result["images_per_s"]
        lines.append(f"| {model} | {'missing' if rate is None else f'{rate:,.0f}'} | "
                     f"{result['goal'] or ''} |")
    memory = report["memory_efficient"]
    if memory:
        lines += ["", "Memory-efficient DenseNet-121 (peak memory growth of a training step, img/s):", "",
                  "| model | variant | peak MiB | memory ratio | img/s | speed ratio |",
                  "|---|---|---:|---:|---:|---:|"]
        for result in memory["results"]:
            ref_memory, ref_speed = result["peak_mib"]["reference"], result["images_per_second"]["reference"]
            for key, value in result["peak_mib"].items():
                speed = result["images_per_second"][key]
                lines.append(f"| {result['model']} | {key} | {value:.0f} | {value / ref_memory:.2f} | {speed:.0f} | "
                             f"{speed / ref_speed:.2f} |")
    lines += ["", END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## GPU check (bench/gpu.sh)\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="where gpu.sh's steps wrote their files")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, help="the file whose GPU section to (re)write")
    args = parser.parse_args(argv)
    report = collect(args.folder)
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    section = markdown(report)
    print(section)
    if args.markdown:
        write_section(args.markdown, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
