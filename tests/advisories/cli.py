"""`vigil` run in-process (Typer's runner) for tests that need no process of their own."""

from __future__ import annotations

import traceback

from click.testing import Result
from typer.testing import CliRunner

from vigil.cli import app


def vigil(*args: object) -> Result:
    """The command's result; a traceback (any exception but a clean exit) fails the test at once."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(result.exception)))
    return result


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit status 1 and one `vigil: …` line on stderr holding every fragment."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("vigil: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
