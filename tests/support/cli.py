"""`vigil` as a user runs it, in this process: the real command line (Typer/Click), stdout, stderr, exit status.

Tests that need a real process (a kill, concurrency, start-up cost) start `python -m vigil` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from vigil.cli import app


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def vigil(*args: str, check: bool = True, ok: tuple[int, ...] = (0,)) -> Result:
    """Run `vigil ARGS…`; with `check`, an exit status outside `ok` fails the test with stderr shown."""
    outcome = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    result = Result(outcome.exit_code, outcome.stdout, outcome.stderr)
    if check and result.returncode not in ok:
        raise AssertionError(f"vigil {' '.join(map(str, args))} → {result.returncode}\n{result.stderr}")
    return result
