"""What every command shares: the root options, settings loading, and turning errors into exit codes."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from teachkit.console import Output
from teachkit.errors import EXIT_FAILURE, TeachkitError
from teachkit.settings import Settings, load_settings

# Root options that are also accepted after a subcommand (`teachkit config show --json`).
HOISTED_FLAGS = {"--json", "--quiet", "-q", "--verbose", "-v", "--debug"}
HOISTED_WITH_VALUE = {"--config", "-c"}


@dataclass
class AppState:
    config_file: Path | None = None
    quiet: bool = False
    json: bool = False
    verbose: bool = False
    debug: bool = False

    def output(self) -> Output:
        # --json keeps stdout machine-readable; progress and notices still go to stderr unless --quiet.
        return Output(quiet=self.quiet, json=self.json, verbose=self.verbose)

    def settings(self, overrides: dict[str, Any] | None = None) -> Settings:
        settings = load_settings(self.config_file, overrides)
        out = self.output()
        for notice in settings.notices:
            out.info(notice)
        return settings


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def hoist_root_options(args: list[str]) -> list[str]:
    """Move root options given after a subcommand to the front, so they work in either place."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if arg in HOISTED_FLAGS:
            front.append(arg)
        elif name in HOISTED_WITH_VALUE and "=" in arg:
            front.append(arg)
        elif arg in HOISTED_WITH_VALUE and index + 1 < len(args):
            front.extend(args[index : index + 2])
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


class TeachkitGroup(TyperGroup):
    """The root group: hoists root options and maps errors to one line and an exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_root_options(list(args))
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TeachkitError as error:
            self._report(ctx, error, str(error))
            raise typer.Exit(error.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as error:  # noqa: BLE001 - the traceback is kept for --debug
            if type(error).__module__.startswith("typer"):
                raise
            self._report(ctx, error, f"{type(error).__name__}: {error} (run with --debug for the traceback)")
            raise typer.Exit(EXIT_FAILURE) from None

    @staticmethod
    def _report(ctx: Any, error: BaseException, message: str) -> None:
        app_state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
        if app_state.debug:
            traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
