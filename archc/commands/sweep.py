"""``archc sweep``: search a spec's params and training options with Optuna under a cost budget
(see docs/experiments.md). Imports nothing heavy at import time."""

from __future__ import annotations

import argparse
from typing import Any

DESCRIPTION = """search a spec's params and training options with Optuna: each candidate is priced with archc's exact
counts first; one over --max-macs / --max-params is recorded as pruned and never trained; every trained trial is an
ordinary run folder in the sweep folder. Running the same command again continues the study."""

EPILOG = """examples:
  archc sweep resnet20 --space space.yaml --trials 20 --max-macs 30M --epochs 5 --subset 10000
  archc sweep my_net.yaml --space space.yaml --trials 30 --objective accuracy,macs --out sweeps/my-net
  archc sweep my_net.yaml --space space.yaml --trials 100 --storage postgresql://user:pw@db-host/sweeps
  archc sweep resnet56 --space space.yaml --trials 40 --launcher "torchrun --standalone --nproc-per-node 4"

space.yaml:
  width: [16, 32, 64]                       # a spec param: choices
  depth: {low: 1, high: 4}                  # a spec param: integers 1..4
  lr: {low: 1.0e-4, high: 1.0e-1, log: true}  # a training option: a log-uniform float
"""


def register(subparsers: Any) -> None:
    from archc.commands.train import add_train_options

    p = subparsers.add_parser("sweep", help="search a spec's params with Optuna under a MAC / parameter budget",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="a spec file or zoo name")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a spec parameter for every trial (repeatable)")
    group = p.add_argument_group("search")
    group.add_argument("--space", required=True, metavar="SPACE.yaml",
                       help="spec params and training options to vary: choices ([16, 32]) or ranges ({low:, high:})")
    group.add_argument("--trials", type=int, required=True, metavar="N",
                       help="trials of the study in all (over every machine); a rerun goes on up to N")
    group.add_argument("--max-macs", metavar="X", help="budget: MACs per image (25000000, 25M, 1.5G)")
    group.add_argument("--max-params", metavar="Y", help="budget: parameters (250k, 1.2M)")
    group.add_argument("--objective", default="accuracy", choices=["accuracy", "accuracy,macs", "accuracy,params"],
                       metavar="OBJECTIVE", help="accuracy (default: maximize the test accuracy), accuracy,macs or "
                                                 "accuracy,params (also minimize MACs / params: a Pareto front)")
    group.add_argument("--sampler", default="tpe", choices=["tpe", "nsga2", "random", "grid"],
                       help="Optuna's sampler (default tpe; grid tries every candidate of a finite space once)")
    group.add_argument("--sampler-seed", type=int, metavar="N",
                       help="seed the sampler: reproducible on one machine; for tpe, nsga2 and random give none "
                            "(or another) on each machine; grid takes 0 unless given, the same on every machine")
    group.add_argument("--max-pruned", type=int, default=20, metavar="K",
                       help="stop after K trials in a row that trained nothing, unless the space is known to hold a "
                            "candidate within the budget (default 20)")
    group.add_argument("--launcher", metavar="CMD",
                       help="run each trial as `CMD -m archc train ...`, e.g. \"torchrun --nproc-per-node 4\"")
    group = p.add_argument_group("sweep folder and storage")
    group.add_argument("--out", metavar="DIR", help="the sweep folder (default sweeps/<spec name>)")
    group.add_argument("--study", metavar="NAME", help="the study's name (default: the sweep folder's name)")
    group.add_argument("--storage", metavar="URL",
                       help="Optuna storage shared by every machine of the sweep: postgresql://..., "
                            "mysql+pymysql://... (default: sqlite:///DIR/study.db)")
    add_train_options(p)
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console

    from archc.cli import UsageError
    from archc.errors import SpecError
    from archc.sweep.budget import parse_count
    from archc.sweep.errors import SweepError
    from archc.sweep.study import SweepConfig, open_study, prepare_sweep, run_trials
    from archc.train.config import option_names
    from archc.train.errors import TrainError, TrainingInterrupted

    console = Console(soft_wrap=True)
    train = {name: getattr(args, name) for name in option_names()
             if name not in ("spec", "overrides", "out", "name") and getattr(args, name, None) is not None}
    try:
        max_macs = parse_count(args.max_macs, "--max-macs") if args.max_macs is not None else None
        max_params = parse_count(args.max_params, "--max-params") if args.max_params is not None else None
        cfg = SweepConfig(spec=args.spec, space=args.space, trials=args.trials, overrides=list(args.overrides),
                          train=train, out=args.out, study=args.study, storage=args.storage,
                          objective=args.objective, max_macs=max_macs, max_params=max_params, sampler=args.sampler,
                          sampler_seed=args.sampler_seed, max_pruned=args.max_pruned, launcher=args.launcher)
        sweep = prepare_sweep(cfg)
        for note in sweep.notes:
            console.print(f"note: {note}", highlight=False)
        study = open_study(sweep)
        console.print(f"sweep folder {sweep.folder}, study '{sweep.study_name}' in {_shown(sweep)}: "
                      f"{len(study.trials)} trial(s) so far, up to {cfg.trials}; budget {sweep.budget.text()}",
                      highlight=False)
        try:
            run_trials(sweep, study, console)
        except (KeyboardInterrupt, TrainingInterrupted):
            _report(sweep, study, console)
            console.print("sweep interrupted: run the same command again to go on; the interrupted trial resumes "
                          "from its last checkpoint", highlight=False)
            return 130
        _report(sweep, study, console)
    except SpecError:
        raise  # located diagnostics, printed by the CLI
    except (SweepError, TrainError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def _shown(sweep: Any) -> str:
    from archc.sweep.study import masked

    return masked(sweep.storage_url)


def _report(sweep: Any, study: Any, console: Any) -> None:
    from archc.sweep.report import PLOT_FILE, plot_sweep, print_table, trial_rows

    rows = trial_rows(study, sweep.space)
    if not rows:
        return
    cost = sweep.cost_metric
    print_table(rows, [d.name for d in sweep.space.dims], cost, console)
    limit = sweep.budget.max_macs if cost == "macs" else sweep.budget.max_params
    path = sweep.folder / PLOT_FILE
    if plot_sweep(rows, path, cost, limit, f"{sweep.study_name}: {sweep.spec.name}, objective {sweep.cfg.objective}"):
        console.print(f"plot {path}", highlight=False)
