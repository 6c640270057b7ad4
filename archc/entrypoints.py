"""One scan of the installed packages' entry points, shared by everyone who asks during a command.

networkx scans two entry-point groups when it is imported (its backends), pydantic one when it builds its first
validator (its plugins) and archc one (its op plugins): each ``importlib.metadata.entry_points(group=...)`` reads the
metadata of every installed distribution again. Inside :func:`shared_scan` the first call reads them all once and
every call selects its group from that result; outside it (and after it) the standard function answers, so a
package installed later is still found by a later command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

_ORIGINAL = metadata.entry_points
_active: list[Any] = []  # the scan of the open window (empty: no window, or not scanned yet)
_depth = 0


def _shared(**params: Any) -> Any:
    if _depth == 0 or not params:  # no window, or the whole (version-dependent) object is asked for
        return _ORIGINAL(**params)
    if not _active:
        _active.append(_ORIGINAL())  # EntryPoints (3.12+) or SelectableGroups (3.11): both have .select
    return _active[0].select(**params)


@contextmanager
def shared_scan() -> Iterator[None]:
    """Within this block, ``importlib.metadata.entry_points`` reads the installed metadata at most once."""
    global _depth
    _depth += 1
    metadata.entry_points = _shared
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            _active.clear()
            metadata.entry_points = _ORIGINAL
