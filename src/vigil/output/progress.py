"""A progress display on a terminal (stderr), silent otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_reporter(*, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.status import Status

    status = Status("reading…", console=Console(stderr=True))
    with status:

        def update(files: int, packages: int) -> None:
            status.update(f"reading… {files:,} files seen, {packages:,} packages found")

        yield update
