"""``archc sweep``: an Optuna study over a spec's params and training options, under a static cost budget.

    sweep = prepare_sweep(SweepConfig(spec="resnet20", space="space.yaml", trials=20, max_macs=20_000_000))
    study = open_study(sweep)
    run_trials(sweep, study, console)

Everything that can be checked is checked in ``prepare_sweep``, which writes nothing: the space against the spec, the
training options, the data, the budget against the space's candidates, and that a given storage can be reached.
Each trial's candidate is priced with archc's exact counts before any training; one over budget is recorded as
pruned and never trained. A trained trial is an ordinary run folder (``archc train``) in the sweep folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.errors import SpecError
from archc.sweep.budget import Budget, Costs, check_feasible, human
from archc.sweep.errors import SweepError
from archc.sweep.space import Space, load_space
from archc.train.config import RESUMABLE_CHANGES, TrainConfig
from archc.train.errors import TrainError, TrainingInterrupted

#: --objective -> (Optuna directions, the cost that goes with accuracy; None: accuracy alone)
OBJECTIVES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "accuracy": (("maximize",), None),
    "accuracy,macs": (("maximize", "minimize"), "macs"),
    "accuracy,params": (("maximize", "minimize"), "params"),
}
SAMPLERS = ("tpe", "nsga2", "random", "grid")
SWEEP_FILE = "sweep.json"
STUDY_DB = "study.db"
#: training options that may differ between the machines and reruns of one sweep (they do not change the result)
MACHINE_OPTIONS = tuple(name for name in RESUMABLE_CHANGES if name != "epochs")
STATIC_CHECK_LIMIT = 64  # candidates priced before the sweep starts (each is one archc.summarize)
HEARTBEAT_S, GRACE_S = 30, 120


@dataclass
class SweepConfig:
    spec: str
    space: str
    trials: int
    overrides: list[str] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields given on the command line
    out: str | None = None
    study: str | None = None
    storage: str | None = None
    objective: str = "accuracy"
    max_macs: int | None = None
    max_params: int | None = None
    sampler: str = "tpe"
    sampler_seed: int | None = None
    max_pruned: int = 20
    launcher: str | None = None


@dataclass
class Sweep:
    """A checked sweep, ready to open its study."""

    cfg: SweepConfig
    spec: Any  # archc.Spec with --set (and num_classes of the data) applied
    overrides: list[str]
    space: Space
    budget: Budget
    costs: Costs
    folder: Path
    study_name: str
    storage_url: str
    feasible_known: bool  # the static check priced every candidate and found one within the budget
    notes: list[str] = field(default_factory=list)

    @property
    def directions(self) -> tuple[str, ...]:
        return OBJECTIVES[self.cfg.objective][0]

    @property
    def cost_metric(self) -> str:
        return OBJECTIVES[self.cfg.objective][1] or "macs"

    def definition(self) -> dict[str, Any]:
        """What makes two runs of `archc sweep` the same sweep (recorded in the study; a rerun must match)."""
        train = {k: v for k, v in self.cfg.train.items() if k not in MACHINE_OPTIONS}
        return json.loads(json.dumps({
            "spec": self.spec.name, "digest": self.spec.digest(), "space": self.space.describe(),
            "objective": self.cfg.objective, "budget": self.budget.describe(), "train": train,
            "sampler": self.cfg.sampler}, default=str))


# ------------------------------------------------------------------------------------------------------ checking
def prepare_sweep(cfg: SweepConfig) -> Sweep:
    """Check everything a sweep needs; write nothing. Raises SpecError, SweepError or TrainError."""
    import archc

    _check_options(cfg)
    spec = archc.parse(cfg.spec, cfg.overrides)
    fixed = tuple(text.split("=", 1)[0].strip() for text in cfg.overrides)
    space = load_space(cfg.space, spec.params, fixed)
    overrides, notes = list(cfg.overrides), []
    spec, overrides = _fit_classes(cfg, spec, overrides, space, notes)
    _check_train_values(cfg, space)
    if cfg.sampler == "grid" and space.grid() is None:
        raise SweepError("--sampler grid needs a space of choices and integer ranges of at most 16 values")
    budget = Budget(cfg.max_macs, cfg.max_params)
    costs = Costs(spec)
    candidates, exhaustive = space.spec_candidates(STATIC_CHECK_LIMIT)
    problem = check_feasible(costs, candidates, exhaustive, budget)
    if problem:
        raise SweepError(problem + " (raise --max-macs / --max-params, or add smaller choices to the space)")
    folder = Path(cfg.out or Path("sweeps") / spec.name)
    study_name = cfg.study or folder.resolve().name
    storage_url = cfg.storage or f"sqlite:///{(folder / STUDY_DB).resolve()}"
    _check_folder(folder, storage_url, study_name)
    if cfg.storage:
        _storage(cfg.storage).remove_session()  # reachable, and its tables exist, before the folder is made
    feasible_known = exhaustive and bool(candidates)
    return Sweep(cfg, spec, overrides, space, budget, costs, folder, study_name, storage_url, feasible_known, notes)


def _check_options(cfg: SweepConfig) -> None:
    if cfg.trials <= 0:
        raise SweepError(f"--trials must be positive, got {cfg.trials}")
    if cfg.objective not in OBJECTIVES:
        raise SweepError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {cfg.objective!r}")
    if cfg.sampler not in SAMPLERS:
        raise SweepError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {cfg.sampler!r}")
    if cfg.max_pruned <= 0:
        raise SweepError(f"--max-pruned must be positive, got {cfg.max_pruned}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SweepError("run archc sweep as one process (not under torchrun); --launcher \"torchrun ...\" makes each "
                         "trial a DDP job")
    if cfg.launcher and cfg.train.get("backend") == "keras":
        raise SweepError("--launcher runs torchrun jobs; the keras backend spreads over GPUs by itself")
    TrainConfig(**cfg.train)  # the options' own checks (TrainError)


def _fit_classes(cfg: SweepConfig, spec: Any, overrides: list[str], space: Space, notes: list[str]) -> tuple[Any,
                                                                                                           list[str]]:
    """Load the data once (a missing data set fails here), and set num_classes to its classes as `archc train`
    does, so that the static counts are those of the nets that will be trained."""
    import archc
    from archc.train.data import load_dataset
    from archc.train.runner import spec_info

    train = TrainConfig(**cfg.train)
    info = spec_info(spec)
    dataset = load_dataset(train.data, info.input_shape, info.num_outputs, train.data_dir, train.subset,
                           train.test_subset, train.seed)
    given = any(text.split("=", 1)[0].strip() == "num_classes" for text in overrides)
    swept = any(dim.name == "num_classes" for dim in space.dims)
    if dataset.num_classes != info.num_outputs and "num_classes" in spec.params and not given and not swept:
        overrides = [*overrides, f"num_classes={dataset.num_classes}"]
        notes.append(f"num_classes={dataset.num_classes} for {dataset.name} (the spec says "
                     f"{spec.params['num_classes']})")
        spec = archc.parse(cfg.spec, overrides)
        info = spec_info(spec)
    if info.num_outputs < dataset.num_classes and not swept:
        raise SweepError(f"spec '{spec.name}' has {info.num_outputs} outputs but {dataset.name} has "
                         f"{dataset.num_classes} classes (set --set num_classes={dataset.num_classes})")
    return spec, overrides


def _check_train_values(cfg: SweepConfig, space: Space) -> None:
    """Each training option's extreme values must make a valid TrainConfig with the others given."""
    for dim in space.train_dims:
        for value in dim.corners():
            try:
                TrainConfig(**{**cfg.train, dim.name: value})
            except TrainError as exc:
                raise SweepError(f"{space.source}: {dim.name}={value!r} cannot train: {exc}") from None


def _check_folder(folder: Path, storage_url: str, study_name: str) -> None:
    """The sweep folder is new, empty, or this sweep's own (its sweep.json names the same study and storage)."""
    if folder.exists() and not folder.is_dir():
        raise SweepError(f"--out {folder} is a file, not a folder")
    marker = folder / SWEEP_FILE
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SweepError(f"{marker} cannot be read ({exc}); give another --out") from None
        if (saved.get("study"), saved.get("storage")) != (study_name, masked(storage_url)):
            raise SweepError(f"{folder} holds the sweep of study '{saved.get('study')}' in {saved.get('storage')}; "
                             f"this is study '{study_name}' in {masked(storage_url)}: give another --out, or the "
                             f"same --storage and --study")
    elif folder.is_dir() and any(folder.iterdir()):
        raise SweepError(f"{folder} exists and is not a sweep folder (no {SWEEP_FILE}); give another --out")


def masked(url: str) -> str:
    """A storage URL without its password (for messages and sweep.json)."""
    with contextlib.suppress(Exception):
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    return url.split("@")[-1] if "@" in url else url


def _storage(url: str) -> Any:
    """Optuna's RDB storage (heartbeats fail the trials of a killed worker; those are retried); SweepError when it
    cannot be reached."""
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    connect = {"timeout": 60} if url.startswith("sqlite") else {"connect_timeout": 10} if "postgres" in url else {}
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": connect}, heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        except (IntegrityError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.5 + attempt)  # workers started together race to create Optuna's tables: one wins
        except ModuleNotFoundError as exc:
            raise SweepError(f"--storage {masked(url)} needs the Python package '{exc.name}' (pip install "
                             f"'archc[experiments]' brings psycopg and PyMySQL)") from None
        except Exception as exc:  # sqlalchemy's errors for bad URLs, refused connections, wrong passwords, ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SweepError(f"cannot reach the storage {masked(url)}: {reason}") from None
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------------ the study
def open_study(sweep: Sweep) -> Any:
    """Create the sweep folder and the study, or load them (a rerun, or another machine of the same sweep)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # archc prints one line per trial itself
    sweep.folder.mkdir(parents=True, exist_ok=True)
    storage = _storage(sweep.storage_url)
    study = optuna.create_study(storage=storage, study_name=sweep.study_name, sampler=_sampler(sweep),
                                directions=list(sweep.directions), load_if_exists=True)
    _check_study(sweep, study)
    requeue_interrupted(study)
    marker = sweep.folder / SWEEP_FILE
    if not marker.is_file():
        from archc.train.rundir import atomic_write_text

        atomic_write_text(marker, json.dumps({"study": sweep.study_name, "storage": masked(sweep.storage_url),
                                              **sweep.definition()}, indent=1) + "\n")
    return study


def requeue_interrupted(study: Any) -> None:
    """Queue again the candidate of each trial stopped by Ctrl-C (failed, ``interrupted``) that is not queued yet, as
    Optuna's heartbeat retries the trial of a killed worker; the new trial resumes the old one's run folder."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    queued = {number for t in trials for number in t.system_attrs.get("retry_history", [])}
    for trial in trials:
        if trial.state != optuna.trial.TrialState.FAIL or not trial.user_attrs.get("interrupted"):
            continue
        if trial.number in queued:
            continue
        system = {**trial.system_attrs, "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                  "retry_history": [*trial.system_attrs.get("retry_history", []), trial.number]}
        user = {k: v for k, v in trial.user_attrs.items() if k != "interrupted"}
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING, params=trial.params,
                                                  distributions=trial.distributions, user_attrs=user,
                                                  system_attrs=system))


def _sampler(sweep: Sweep) -> Any:
    import optuna

    seed, name = sweep.cfg.sampler_seed, sweep.cfg.sampler
    if name == "grid":
        # trial k takes the k-th candidate of the seeded shuffle: one seed on every machine, so none is run twice
        return optuna.samplers.GridSampler(sweep.space.grid(), seed=0 if seed is None else seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate TPE is experimental
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(10, sweep.cfg.trials))


def _check_study(sweep: Sweep, study: Any) -> None:
    """A study of this name made by another sweep is refused, never mixed with this one."""
    wanted = sweep.definition()
    saved = study.user_attrs.get("archc_sweep")
    if saved is None:
        if study.get_trials(deepcopy=False):
            raise SweepError(f"study '{sweep.study_name}' in {masked(sweep.storage_url)} was not made by archc sweep; "
                             f"give another --study")
        study.set_user_attr("archc_sweep", wanted)
        return
    old, new = _flat(saved), _flat(wanted)
    differ = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    if differ:
        details = "; ".join(f"{key}: {old.get(key, '(none)')!r} in the study, {new.get(key, '(none)')!r} now"
                            for key in differ)
        raise SweepError(f"study '{sweep.study_name}' in {masked(sweep.storage_url)} is another sweep ({details}); "
                         f"give another --out (or --study) for a new sweep")


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'epochs': 2}} -> {'train.epochs': 2} (the space's entries stay whole)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in ("train", "budget", "space") and not prefix:
            flat.update(_flat(value, f"{key}."))
        else:
            flat[prefix + key] = value
    return flat


# ------------------------------------------------------------------------------------------------------- trials
def run_trials(sweep: Sweep, study: Any, console: Any) -> None:
    """Run trials until the study holds ``--trials`` finished or running ones (over all workers)."""
    import optuna

    objective = _Objective(sweep, study, console)
    misses = failures = 0  # trials in a row that trained nothing (over budget, not compiling, failing); that failed
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        counted = sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                            optuna.trial.TrialState.RUNNING) for s in states)
        if counted >= sweep.cfg.trials:
            running = states.count(optuna.trial.TrialState.RUNNING)
            if running:
                console.print(f"{running} trial(s) still running: on other workers, or left by a sweep that was "
                              f"killed (those are failed and queued again after {GRACE_S} s without a heartbeat, "
                              f"by the next run of the sweep)", highlight=False)
            return
        if isinstance(study.sampler, optuna.samplers.GridSampler) and study.sampler.is_exhausted(study):
            console.print("every candidate of the grid has been tried", highlight=False)
            return
        if failures >= sweep.cfg.max_pruned or (misses >= sweep.cfg.max_pruned and not sweep.feasible_known):
            raise SweepError(f"{max(misses, failures)} trials in a row trained nothing (the last: "
                             f"{objective.last_problem}); raise the budget of {sweep.budget.text()}, change the "
                             f"space, or raise --max-pruned")
        objective.outcome, objective.last_problem = "failed", "failed"
        study.optimize(objective, n_trials=1, catch=(SpecError, TrainError))
        misses = 0 if objective.outcome in ("trained", "repeat") else misses + 1
        failures = failures + 1 if objective.outcome == "failed" else 0


class _Objective:
    """One trial: draw a candidate, price it, train it if it fits the budget, return its accuracy (and cost)."""

    def __init__(self, sweep: Sweep, study: Any, console: Any):
        self.sweep, self.study, self.console = sweep, study, console
        self.outcome = ""  # trained, repeat (of an earlier trial), pruned or failed
        self.last_problem = ""

    def __call__(self, trial: Any) -> Any:
        self.outcome = "failed"  # until it is known to be otherwise
        try:
            return self._evaluate(trial)
        except (KeyboardInterrupt, TrainingInterrupted):
            trial.set_user_attr("interrupted", True)  # the next run of the sweep queues it again and resumes it
            raise

    def _evaluate(self, trial: Any) -> Any:
        import optuna

        spec_values, train_values = self.sweep.space.suggest(trial)
        shown = " ".join(f"{k}={v}" for k, v in {**spec_values, **train_values}.items())
        earlier = self._same_candidate(trial)
        if earlier is not None:
            return self._repeat(trial, earlier, shown)
        try:
            costs = self.sweep.costs(spec_values)
        except SpecError as exc:
            self._say(trial, f"{shown}: does not compile: {exc.format(source=False)}")
            self.last_problem = f"{shown} does not compile"
            raise
        for key, value in costs.items():
            trial.set_user_attr(key, value)
        over = self.sweep.budget.over(costs)
        if over:
            trial.set_user_attr("over_budget", over)
            self._say(trial, f"{shown}: {over}: over budget, pruned (not trained)")
            self.last_problem, self.outcome = f"{shown}: {over}", "pruned"
            raise optuna.TrialPruned(over)
        resume = self._interrupted_run(trial)
        self._say(trial, f"{shown}: {human(costs['macs'])} MACs, {human(costs['params'])} params: "
                         + (f"resuming {resume}" if resume else "training"))
        try:
            history, run_dir = self._train(trial.number, spec_values, train_values, resume)
        except TrainError as exc:
            self._say(trial, f"{shown}: training failed: {exc}")
            self.last_problem = f"{shown}: {exc}"
            raise
        self.outcome = "trained"
        return self._record(trial, history, run_dir, costs, shown)

    def _same_candidate(self, trial: Any) -> Any:
        """An earlier trial with the same params that finished or still runs (Optuna may propose one again)."""
        import optuna

        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
        for other in self.study.get_trials(deepcopy=False, states=states):
            if other.number < trial.number and other.params == trial.params:
                return other
        return None

    def _repeat(self, trial: Any, earlier: Any, shown: str) -> Any:
        """The earlier trial's result, without training the same candidate twice."""
        import optuna

        self.outcome = "repeat"
        trial.set_user_attr("same_as", earlier.number)
        for key in ("macs", "params"):
            if key in earlier.user_attrs:
                trial.set_user_attr(key, earlier.user_attrs[key])
        if earlier.state != optuna.trial.TrialState.COMPLETE:
            self.outcome = "pruned"
            self._say(trial, f"{shown}: the candidate of trial {earlier.number}, which is running: pruned")
            raise optuna.TrialPruned(f"same as running trial {earlier.number}")
        self._say(trial, f"{shown}: the candidate of trial {earlier.number}: its result, not trained again")
        return earlier.values if len(earlier.values) > 1 else earlier.values[0]

    def _interrupted_run(self, trial: Any) -> Path | None:
        """The run folder, on this machine, of the interrupted trial that this one retries (if it has a checkpoint)."""
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == trial.number)
        for number in reversed(frozen.system_attrs.get("retry_history", [])):
            for folder in sorted(self.sweep.folder.glob(f"trial-{number:04d}-*"), reverse=True):
                if any((folder / "checkpoints").glob("last.*")):
                    return folder
        return None

    def _train(self, number: int, spec_values: dict[str, Any], train_values: dict[str, Any],
               resume: Path | None) -> tuple[list[Any], Path]:
        overrides = [*self.sweep.overrides, *(f"{k}={json.dumps(v)}" for k, v in spec_values.items())]
        cfg = TrainConfig(**{**self.sweep.cfg.train, **train_values}, spec=self.sweep.cfg.spec, overrides=overrides,
                          out=str(self.sweep.folder), name=f"trial-{number:04d}")
        machine = {k: v for k, v in self.sweep.cfg.train.items() if k in MACHINE_OPTIONS}
        if self.sweep.cfg.launcher:
            return _train_subprocess(cfg, self.sweep.cfg.launcher, number, resume, machine)
        from archc.train.runner import run

        result = run(cfg, console=self.console) if resume is None else \
            run(resume=resume, changes=machine, console=self.console)
        return result.history, Path(result.run_dir)

    def _record(self, trial: Any, history: list[Any], run_dir: Path, costs: dict[str, int], shown: str) -> Any:
        if not history:
            raise TrainError(f"trial {trial.number}: the run {run_dir} recorded no epoch")
        last = history[-1]
        best = max(row["test_acc"] for row in history)
        attrs = {"run": str(run_dir.resolve()), "host": socket.gethostname(), "test_acc": last["test_acc"],
                 "best_test_acc": best, "epochs": last["epoch"], "images_per_s": last.get("images_per_s"),
                 "train_time_s": round(sum(row.get("epoch_time_s", 0.0) for row in history), 1)}
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        self._say(trial, f"{shown}: test accuracy {last['test_acc']:.4f} (best {best:.4f}), run {run_dir}")
        cost = OBJECTIVES[self.sweep.cfg.objective][1]
        return last["test_acc"] if cost is None else (last["test_acc"], costs[cost])

    def _say(self, trial: Any, text: str) -> None:
        self.console.print(f"trial {trial.number}: {text}", highlight=False)


def train_flags(cfg: TrainConfig) -> list[str]:
    """`archc train` flags that make ``cfg`` (the options that differ from the defaults)."""
    defaults, flags = TrainConfig().to_dict(), []
    for name, value in cfg.to_dict().items():
        flag = "--" + name.replace("_", "-")
        if name == "spec" or value == defaults[name] or value is None:
            continue
        if name == "overrides":
            flags += [item for text in value for item in ("--set", text)]
        elif isinstance(value, bool):
            flags.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            flags += [flag, str(value)]
    return flags


def _train_subprocess(cfg: TrainConfig, launcher: str, number: int, resume: Path | None,
                      machine: dict[str, Any]) -> tuple[list[Any], Path]:
    """One trial as its own job: ``LAUNCHER -m archc train ...`` (e.g. a torchrun DDP job)."""
    from archc.train.rundir import read_metrics

    if resume is None:
        arguments = [cfg.spec, *train_flags(cfg)]
    else:
        arguments = ["--resume", str(resume), *train_flags(TrainConfig().replace(**machine))]
    command = [*shlex.split(launcher), "-m", "archc", "train", *arguments]
    job = subprocess.Popen(command)
    try:
        code = job.wait()
    except KeyboardInterrupt:
        job.wait()  # Ctrl-C reached the job too: it checkpoints and stops (a second Ctrl-C leaves it at once)
        raise
    if code == 130:
        raise TrainingInterrupted(f"trial {number}: the job was interrupted", resume)
    runs = [resume] if resume else sorted(Path(cfg.out).glob(f"trial-{number:04d}-*"), key=lambda p: p.stat().st_mtime)
    if code != 0 or not runs:
        raise TrainError(f"trial {number}: `{shlex.join(command)}` exited with status {code}")
    return read_metrics(runs[-1] / "metrics.jsonl"), runs[-1]

