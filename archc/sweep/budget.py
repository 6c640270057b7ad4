"""The cost budget of a sweep: archc's exact static counts (``archc.summarize``) of a candidate, before any training."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from archc.errors import SpecError
from archc.sweep.errors import SweepError

_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGtT]?)\s*$")
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_count(text: str, flag: str) -> int:
    """``300M``, ``1.5G``, ``20k``, ``25000`` -> an integer; ValueError naming ``flag`` otherwise."""
    match = _COUNT.match(str(text))
    if not match:
        raise ValueError(f"{flag} takes a count such as 25000, 20k, 300M or 1.5G, got {text!r}")
    value = float(match.group(1)) * _SCALE[match.group(2).lower()]
    if value <= 0:
        raise ValueError(f"{flag} must be positive, got {text!r}")
    return int(value)


def human(count: float) -> str:
    """12,345,678 -> '12.3M' (as in the tables of `archc summary`)."""
    for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(count) >= scale * 0.9995:  # 999,600 is '1M', not '1e+03k'
            return f"{count / scale:.3g}{suffix}"
    return f"{count:g}"


@dataclass(frozen=True)
class Budget:
    max_macs: int | None = None
    max_params: int | None = None

    def over(self, costs: dict[str, int]) -> str | None:
        """Why ``costs`` ({'macs', 'params'}) break the budget, or None when they fit."""
        reasons = []
        if self.max_macs is not None and costs["macs"] > self.max_macs:
            reasons.append(f"{human(costs['macs'])} MACs > {human(self.max_macs)}")
        if self.max_params is not None and costs["params"] > self.max_params:
            reasons.append(f"{human(costs['params'])} params > {human(self.max_params)}")
        return ", ".join(reasons) or None

    def describe(self) -> dict[str, int | None]:
        return {"max_macs": self.max_macs, "max_params": self.max_params}

    def text(self) -> str:
        parts = [f"{human(v)} {k}" for k, v in (("MACs", self.max_macs), ("params", self.max_params)) if v]
        return " and ".join(parts) or "no budget"


class Costs:
    """Exact parameter and MAC counts of candidates of one spec, each computed once."""

    def __init__(self, spec: Any):
        self.spec = spec  # an archc.Spec with the sweep's --set applied
        self._cache: dict[str, dict[str, int]] = {}

    def __call__(self, params: dict[str, Any]) -> dict[str, int]:
        """{'params', 'macs'} of the spec with ``params`` set; SpecError if that candidate does not compile."""
        import archc

        key = json.dumps(params, sort_keys=True, default=str)
        if key not in self._cache:
            summary = archc.summarize(archc.build_graph(self.spec, **params))
            self._cache[key] = {"params": summary.params, "macs": summary.macs}
        return self._cache[key]


def check_feasible(costs: Costs, candidates: list[dict[str, Any]], exhaustive: bool, budget: Budget) -> str | None:
    """A message when no candidate of the static check meets the budget (None when one does or none were listed).

    A candidate that does not compile is an error here, before anything is written.
    """
    if not candidates or (budget.max_macs is None and budget.max_params is None):
        return None
    priced = []
    for params in candidates:
        try:
            priced.append((params, costs(params)))
        except SpecError as exc:
            shown = " ".join(f"{k}={v}" for k, v in params.items())
            raise SweepError(f"the candidate {shown} of the space does not compile:\n{exc.format()}") from None
        if budget.over(priced[-1][1]) is None:
            return None
    cheapest_params, cheapest = min(priced, key=lambda item: (item[1]["macs"], item[1]["params"]))
    shown = " ".join(f"{k}={v}" for k, v in cheapest_params.items()) or "the spec as it is"
    which = (f"none of the {len(priced)} candidates of the space" if exhaustive else
             f"none of the {len(priced)} corners of the space (its smallest and largest values; costs grow with "
             f"most params)")
    return (f"no candidate meets the budget of {budget.text()}: {which} does; the cheapest, {shown}, has "
            f"{human(cheapest['macs'])} MACs and {human(cheapest['params'])} params")
