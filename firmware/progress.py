"""Progress bars for long runs: shown on an interactive terminal, silent in pipes and CI."""

import sys

__all__ = ["progress"]


def progress(items, unit: str, total: int | None = None):
    """``items``, wrapped in a tqdm bar on stderr when stderr is a terminal."""
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm
    return tqdm(items, unit=unit, total=total, file=sys.stderr, leave=False)
