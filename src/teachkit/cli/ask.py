"""`teachkit ask "PROMPT" [--model SPEC]`: one prompt to one model, the reply and its usage."""

from __future__ import annotations

from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.cli.options import NoCache
from teachkit.errors import TeachkitError
from teachkit.llm.checks import ask as ask_model

ROLES = ("teacher", "judge")


def ask(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model spec, e.g. gemini:gemini-2.5-flash, "
                     "openai:MODEL@http://localhost:8000/v1, local:smollm2-135m (default: the role's settings)."),
    ] = None,
    role: Annotated[str, typer.Option("--role", help="Whose settings give the defaults: teacher or judge.")] = "teacher",
    system: Annotated[str | None, typer.Option("--system", help="A system message.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=2.0)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Max output tokens.")] = None,
    thinking_budget: Annotated[
        int | None, typer.Option("--thinking-budget", min=-1, help="Gemini thinking tokens; -1 dynamic, 0 off.")
    ] = None,
    thoughts: Annotated[bool, typer.Option("--thoughts", help="Ask for and show the model's thoughts.")] = False,
    no_cache: NoCache = False,
) -> None:
    """Send one prompt and print the reply with its tokens, latency and estimated cost (tests a setup)."""
    if role not in ROLES:
        raise typer.BadParameter(f"use one of {', '.join(ROLES)}", param_hint="--role")
    app_state = state(ctx)
    settings = app_state.settings({"cache": False if no_cache else None})
    result, ledger = ask_model(
        prompt, settings, spec=model, role=role, system=system, temperature=temperature,  # type: ignore[arg-type]
        max_output_tokens=max_tokens, thinking_budget=thinking_budget, include_thoughts=thoughts,
    )
    out = app_state.output()
    if not app_state.json and result.ok:
        if result.thoughts:
            out.stderr.print(result.thoughts, markup=False, highlight=False, style="dim")
        typer.echo(result.text)
    summary = {
        "model": ledger["model"],
        "finish_reason": result.finish_reason,
        "tokens_prompt": result.usage.prompt,
        "tokens_output": result.usage.output,
        "tokens_thoughts": result.usage.thoughts,
        "latency_s": round(result.latency_s, 3),
        "attempts": result.attempts,
        "from_cache": result.from_cache,
        "cost_usd_estimate": ledger["cost_usd"],
    }
    if app_state.json:
        summary = {"text": result.text, "thoughts": result.thoughts, "parsed": result.parsed,
                   "error": result.error, **summary}
    if app_state.json or not app_state.quiet:
        out.summary("ask", summary)
    if not result.ok:
        raise TeachkitError(f"{ledger['model']}: {result.error}")
