"""Errors meant for the user: the CLI prints their message on one line and exits with their code.

Anything else that escapes a command is a bug or an environment failure; the CLI shows it on one line too and
keeps the traceback for `--debug`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class TeachkitError(Exception):
    """A failure the user can act on. `str(error)` is the whole message: one line, no secrets."""

    exit_code = EXIT_FAILURE


class InputError(TeachkitError):
    """Bad usage, bad input file or bad configuration (exit 2). Say where, what, and how to fix it."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(InputError):
    """A setting that cannot be used: unknown key, bad value, missing key or project."""


class MissingDependencyError(InputError):
    """An optional SDK or package is not installed."""

    def __init__(self, package: str, purpose: str, install: str | None = None):
        hint = install or f"pip install {package}"
        super().__init__(f"{purpose} needs the '{package}' package: {hint}")


class ProviderFault(TeachkitError):
    """A model provider fault that no retry mends (a rejected key, a wrong model name, a spent daily quota, a refused
    request), or a service that stopped answering: the run stops at once (exit 1) instead of recording failures as
    play. The message names the fix and never holds a secret."""
