"""``archc sweep``: search a spec's params and training options with Optuna under an exact static cost budget.

Optuna is imported only when a study is opened (``archc.sweep.study``); see docs/experiments.md.
"""

from archc.sweep.errors import SweepError

__all__ = ["SweepError"]
