"""The ``itask`` command: global options, and the one place where failures become one line.

Commands live in ``itask/cli/commands/`` (one module per group) and register on :data:`app`.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from itask.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError, describe
from itask.cli.target import Options
from itask.client import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S

HELP = (
    "Drive the instructor-task service from a terminal: the local stack, or any deployment (--api).\n\n"
    "Without --api, commands talk to the local stack started by `itask serve` (its stack.json in --home), "
    "with a token minted for --as USER. With --api URL, they talk to that deployment with the bearer "
    "token in ITASK_TOKEN, or the one `itask --api URL login` stored."
)


class HelpPanel:
    """Titles of the groups `itask --help` lists the commands in."""

    LOCAL = "Local stack"
    TASKS = "Tasks"
    PROBLEMS = "Problem state"
    DATA = "Reports and data"
    SIGN_IN = "Sign-in (deployments)"


class _Group(typer.core.TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Typer would turn it into a silent exit 130; say what happened instead.
            raise CliError("interrupted", EXIT_INTERRUPTED) from None


app = typer.Typer(
    name="itask",
    cls=_Group,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)

# Shared option declarations (Annotated types), so every command spells them the same way.
AsUser = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="acting user on the local stack (a token subject: instructor, staff, researcher, admin); "
        "not with --api, where the token says who you are",
        show_default=False,
    ),
]


@app.callback()
def global_options(
    ctx: typer.Context,
    home: Annotated[
        Path, typer.Option(envvar="ITASK_HOME", help="local stack state directory (stack.json, signing key)")
    ] = Path(".local"),
    api: Annotated[
        str | None,
        typer.Option(
            envvar="ITASK_API_URL",
            help="a deployment's API base URL; without it, the local stack in --home",
            show_default=False,
        ),
    ] = None,
    http_timeout: Annotated[
        float, typer.Option(min=0.1, help="seconds to wait for each HTTP answer")
    ] = DEFAULT_TIMEOUT_S,
    retries: Annotated[
        int,
        typer.Option(
            min=0, help="tries again per request after a connection error (and a read timeout, for reads)"
        ),
    ] = DEFAULT_RETRIES,
) -> None:
    ctx.obj = Options(
        home=home, api=api.rstrip("/") if api else None, http_timeout_s=http_timeout, retries=retries
    )


def options(ctx: typer.Context) -> Options:
    opts = ctx.find_object(Options)
    assert opts is not None, "the global callback sets the options"
    return opts


def _fail(message: str, code: int) -> int:
    print(f"itask: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends as one line on stderr and a non-zero exit code."""
    import itask.cli.commands  # noqa: F401  (registers the commands on `app`)

    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="itask", standalone_mode=False)
    except typer.TyperException as error:  # Click's usage errors and bad parameters
        code = int(getattr(error, "exit_code", EXIT_USAGE))
        context = getattr(error, "ctx", None)
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        return _fail(f"{error.format_message()}{where}", code)
    except typer.Abort:
        return _fail("aborted", 1)
    except (Exception, KeyboardInterrupt) as error:  # the one place that turns any failure into a line
        if os.environ.get("ITASK_DEBUG"):
            traceback.print_exc()
        message, code = describe(error)
        return _fail(message, code)
    if result == EXIT_INTERRUPTED:  # Ctrl-C before a command ran: Typer exits 130 without a word
        return _fail("interrupted", EXIT_INTERRUPTED)
    return result if isinstance(result, int) else 0
