"""How the command line speaks: tables for people, ``--json`` for scripts, one line per error.

Every command prints through these helpers so that the output has one shape everywhere. A
:class:`ThermoclineError` becomes one line on stderr and exit code 2 when the input was wrong
(:class:`InputError`: the project file, arguments, unknown names) or 1 otherwise; it never
shows a traceback, since the message already says what was wrong and what to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from thermocline.catalog.errors import InputError, ThermoclineError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "err",
    "exit_code",
    "fit_to_stdout",
    "json_option",
    "one_line_errors",
    "out",
    "print_history",
    "print_json",
    "size",
    "table",
    "wants_json",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class _LazyConsole:
    """A rich ``Console`` built on first use: importing rich costs ~60 ms, which ``--help``,
    usage errors and ``--json`` output never need (issue #18: the CLI starts in < 0.3 s).

    Attribute reads go to the console; a ``width`` set before first use is kept and applied
    when the console is built, so :func:`fit_to_stdout` does not build it either.
    """

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_real", None)

    def _console(self) -> Console:
        real = object.__getattribute__(self, "_real")
        if real is None:
            from rich.console import Console

            real = Console(**object.__getattribute__(self, "_options"))
            object.__setattr__(self, "_real", real)
        return cast("Console", real)

    def __getattr__(self, name: str) -> Any:
        if name == "width" and object.__getattribute__(self, "_real") is None:
            width = object.__getattribute__(self, "_options").get("width")
            if width is not None:
                return width
        return getattr(self._console(), name)

    # Dunder methods skip __getattr__: rich's Live (progress bars) enters its console.
    def __enter__(self) -> Console:
        return self._console().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._console().__exit__(*exc)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "width" and object.__getattribute__(self, "_real") is None:
            object.__getattribute__(self, "_options")["width"] = value
            return
        setattr(self._console(), name, value)


# Both consoles look up sys.stdout / sys.stderr when they print, so click's CliRunner, which
# swaps those streams, captures them too; fit_to_stdout() sizes `out` for the stream in use.
# Typed as consoles: every attribute goes to one (rich's Progress and Live take them as such).
out = cast("Console", _LazyConsole(highlight=False, soft_wrap=True))
err = cast("Console", _LazyConsole(stderr=True, highlight=False, soft_wrap=True))
_PIPED_WIDTH = 160

# Exit codes: a wrong input (fix the command or the project file) apart from a failure.
_INPUT_ERROR = 2
_FAILURE = 1
_ABORTED = 130


def fit_to_stdout() -> None:
    """Size tables for this invocation's stdout: a terminal's width, or wide lines when piped
    (scripts, CI logs, an in-process CliRunner) rather than tables wrapped at 80 columns."""
    out.width = shutil.get_terminal_size().columns if sys.stdout.isatty() else _PIPED_WIDTH


def json_option(command: _F) -> _F:
    """The ``--json`` flag every listing and action command offers to scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(command)


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (dataclasses as objects; dates and paths as
    strings)."""
    click.echo(json.dumps(jsonable(value), indent=2, default=str))


def jsonable(value: Any) -> Any:
    """Dataclasses, mappings and sequences as plain JSON values.

    Not ``dataclasses.asdict``: it deep-copies what it does not know, and a check result's
    read-only metadata (a ``MappingProxyType``) cannot be copied.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for people; cells are printed as text, never as rich markup."""
    from rich.markup import escape
    from rich.table import Table

    shown = Table(title=title, title_justify="left")
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*("" if cell is None else escape(str(cell)) for cell in row))
    out.print(shown)


def size(size_bytes: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 KiB`` ... ``2.0 TiB``."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def print_history(
    dataset: str,
    commits: Iterable[Any],
    ledgers: dict[int | None, list[str]],
    as_json: bool,
) -> int:
    """A dataset's commits, newest first, with the files each vacuum removed (its ledger); how
    many it printed.

    ``--json`` is one JSON array written an element at a time as ``commits`` yields them, so a
    long history starts printing at once and a script still reads one JSON value."""
    if as_json:
        count = 0
        click.echo("[", nl=False)
        for commit in commits:
            entry = {
                **jsonable(commit),
                **(
                    {"vacuumed_files": ledgers[commit.version]} if commit.version in ledgers else {}
                ),
            }
            text = json.dumps(entry, indent=2, default=str).replace("\n", "\n  ")
            click.echo(("," if count else "") + "\n  " + text, nl=False)
            count += 1
        click.echo("\n]" if count else "]")
        return count
    rows = [
        (
            c.version,
            c.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            c.operation,
            c.rows_added,
            c.rows_removed,
            c.files_added,
            c.files_removed,
            c.user,
            c.reason
            or (
                f"ledger: {len(ledgers[c.version])} file(s) removed"
                if c.version in ledgers
                else None
            ),
        )
        for c in commits
    ]
    table(
        f"history of {dataset}",
        [
            "version",
            "time (UTC)",
            "operation",
            "rows +",
            "rows -",
            "files +",
            "files -",
            "who",
            "reason",
        ],
        rows,
    )
    return len(rows)


def exit_code(error: ThermoclineError) -> int:
    """2 when the input was wrong (the user can fix the command), 1 for any other failure."""
    return _INPUT_ERROR if isinstance(error, InputError) else _FAILURE


def wants_json(args: Sequence[str]) -> bool:
    """Whether an argument list asks for ``--json`` (before a ``--`` that ends the options).

    Read from the arguments themselves, not the parsed options, so that an argument list click
    cannot parse (a usage error) still gets its error as JSON.
    """
    options = list(args)
    if "--" in options:
        options = options[: options.index("--")]
    return "--json" in options


@contextlib.contextmanager
def one_line_errors(as_json: bool = False) -> Iterator[None]:
    """Turn what a command raises into its exit: one line on stderr and a non-zero code.

    A :class:`ThermoclineError` exits 2 (bad input) or 1; a usage error (a bad option value, a
    missing argument, an unknown command) exits 2 with one line naming the command's ``--help``;
    a confirmation answered "no" (or Ctrl-C at the prompt) exits 130 like an interrupted shell
    command. With ``as_json`` the same error is also printed on stdout, where a script reads
    the command's output, as one JSON object: ``error`` (the line), ``field`` (the key or
    option that was wrong, or null), ``fix`` (what to do, or null) and ``exit_code``.
    """
    try:
        yield
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()  # a group run without a command shows its help, as click does
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", None, None, _ABORTED, as_json)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else "thermocline"
        fix = f"see '{command} --help'"
        message = f"{error.format_message().rstrip('.')}; fix: {fix}"
        _fail(message, _usage_field(error), fix, error.exit_code, as_json)
    except click.ClickException as error:
        _fail(error.format_message(), None, None, error.exit_code, as_json)
    except ThermoclineError as error:
        _fail(str(error), error.field, error.fix, exit_code(error), as_json)


def _fail(message: str, field: str | None, fix: str | None, code: int, as_json: bool) -> None:
    if as_json:
        record = {"error": message, "field": field, "fix": fix, "exit_code": code}
        click.echo(json.dumps(record, default=str))
    # click, not rich: an error exits fast, without importing rich (~60 ms).
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _usage_field(error: click.UsageError) -> str | None:
    """The option (``--rows``) or argument (``DATASET``) a usage error is about."""
    name = getattr(error, "option_name", None)  # NoSuchOption, BadOptionUsage
    if name:
        return str(name)
    param = getattr(error, "param", None)  # BadParameter, MissingParameter
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    if isinstance(param, click.Parameter):
        return param.human_readable_name
    return None
