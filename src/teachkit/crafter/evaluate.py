"""`teachkit crafter eval`: a policy, and optionally a baseline, play the same seeds; scores side by side.

    teachkit crafter eval --policy runs/student --baseline smollm2-135m --out runs/eval.json

A policy is a student folder (`crafter finetune --backend local` output: adapter or merged), any local checkpoint,
HF id or `smollm2-135m` (played by `local_policy.LocalPolicy`, one batched forward pass per step for all episodes
in flight), a model spec (`vertex:projects/P/locations/L/endpoints/ID` for a tuned Gemini, `openai:MODEL@URL`,
`gemini:MODEL`), a Vertex tuning job record (`<data>.tuning-ID.json`, played through its endpoint), or `scripted` /
`random`. Episodes are played by the rollout loop (`rollout.play_episodes`) with the observation format the
student was trained on. The baseline plays the same seeds, so the comparison is paired: the difference of each
statistic comes with a bootstrap 95% interval over resampled seeds.

Writes OUT (the results as JSON), OUT's stem + `.policy.jsonl` / `.baseline.jsonl` (the episodes, readable by
`crafter report`), OUT's stem + `.png` (success rate per achievement, both policies) and OUT.manifest.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.env import ACHIEVEMENTS
from teachkit.crafter.report import RolloutTally, bar_chart
from teachkit.crafter.rollout import PlayConfig, play_episodes
from teachkit.crafter.teachers import BUILT_IN, Teacher, open_teacher
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, write_records
from teachkit.llm.spec import PROVIDERS
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, StudentPrompt
from teachkit.settings import Settings

DEFAULT_OBSERVATION = "full"


@dataclass
class Policy:
    """A policy ready to play, with how it is prompted."""

    label: str
    spec: str
    teacher: Teacher
    observation_format: str
    prompt: StudentPrompt | None = None
    loaded: str = ""
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {"spec": self.spec, "observation_format": self.observation_format}
        if self.loaded:
            data["loaded"] = self.loaded
        if self.prompt is not None:
            data["system_prompt"] = "yes" if self.prompt.system_prompt else "none"
            data["history"] = self.prompt.history
            data["decode"] = getattr(self.teacher, "decode", None)
        return data


def spec_kind(spec: str) -> str:
    """builtin (scripted/random), model (PROVIDER:MODEL over the provider layer), job (a tuning job record) or local."""
    name = spec.strip()
    if name in BUILT_IN:
        return "builtin"
    provider, colon, _ = name.partition(":")
    if colon and provider.lower() in PROVIDERS and provider.lower() != "local":
        return "model"
    if name.endswith(".json") and Path(name).is_file():
        return "job"
    return "local"


def student_prompt_of(spec: str) -> StudentPrompt | None:
    """The prompt a local student was trained with (its teachkit-training.json), when it has one."""
    from teachkit.train.artifacts import read_record

    path = Path(spec.removeprefix("local:")).expanduser()
    if not path.is_dir():
        return None
    record = read_record(path)
    return record.prompt if record is not None else None


def open_policy(spec: str, label: str, settings: Settings, *, like: StudentPrompt | None = None,
                output: Output | None = None) -> Policy:
    """The policy a --policy/--baseline value names. `like` is the other policy's prompt: a base model with no
    training record of its own is prompted the way the student it is compared with was trained."""
    config = settings.crafter.eval
    kind = spec_kind(spec)
    if kind == "job":
        from teachkit.crafter.vertex_tuning import read_job_record

        record = read_job_record(Path(spec))
        if not record.endpoint:
            raise InputError(f"{spec}: the job has no endpoint yet ({record.state}); check it with "
                             f"`teachkit crafter finetune status {spec}`")
        spec, kind = f"vertex:{record.endpoint}", "model"
    if kind in ("builtin", "model"):
        observation = config.observation or DEFAULT_OBSERVATION
        play_settings = settings.model_copy(deep=True)
        play_settings.crafter.rollout.observation = observation
        return Policy(label, spec, open_teacher(spec, play_settings), observation)

    from teachkit.crafter.local_policy import LocalPolicy, load_policy_model
    from teachkit.train.progress import quiet_libraries

    quiet_libraries(output or Output())

    trained = student_prompt_of(spec)
    prompt = (trained or like or StudentPrompt()).model_copy()
    notes = []
    if trained is None and like is not None:
        notes.append(f"{label} {spec}: no training record; prompted like the policy it is compared with")
    if config.observation:
        prompt.observation_format = config.observation
    if config.history is not None:
        prompt.history = config.history
    observation = prompt.observation_format or DEFAULT_OBSERVATION
    prompt.observation_format = observation
    decode = config.decode if config.decode != "auto" else ("generate" if prompt.with_thoughts else "score")
    model, tokenizer, loaded = load_policy_model(spec.removeprefix("local:"), settings)
    teacher = LocalPolicy(f"local:{spec.removeprefix('local:')}", model, tokenizer, prompt, decode=decode,
                          max_new_tokens=config.max_new_tokens)
    return Policy(label, teacher.spec, teacher, observation, prompt, loaded, notes)


def eval_seeds(settings: Settings) -> list[int]:
    config = settings.crafter.eval
    return [config.seed + index for index in range(config.episodes)]


def play_policy(policy: Policy, seeds: Sequence[int], settings: Settings, output: Output) -> list[Episode]:
    """Every seed once, in the rollout loop; episodes come back in seed order."""
    config = settings.crafter.eval
    hashed = hashlib.sha256(json.dumps(
        {"spec": policy.spec, "observation": policy.observation_format, "max_steps": config.max_steps,
         "difficulty": config.difficulty}, sort_keys=True).encode()).hexdigest()[:12]
    play = PlayConfig(max_steps=config.max_steps, difficulty=config.difficulty,
                      observation_format=policy.observation_format, history=settings.crafter.rollout.history,
                      settings_hash=hashed)
    episodes: dict[int, Episode] = {}
    steps = 0

    async def run() -> None:
        nonlocal steps
        try:
            with output.progress(f"{policy.label}", total=len(seeds), unit="episodes") as bar:
                def on_step(_: Any) -> None:
                    nonlocal steps
                    steps += 1
                    if steps % 50 == 0:
                        bar.update(steps=steps)

                async for episode in play_episodes(seeds, policy.teacher, play, concurrency=config.concurrency,
                                                   on_step=on_step):
                    episodes[episode.seed] = episode
                    bar.advance(1, steps=steps, achievements=len(episode.totals.achievements))
                    if not output.shows_progress:
                        output.info(f"{policy.label} {episode.id}: {len(episode.totals.achievements)} achievements "
                                    f"in {episode.totals.steps} steps")
        finally:
            await policy.teacher.aclose()

    asyncio.run(run())
    return [episodes[seed] for seed in seeds]


def tally_of(episodes: Sequence[Episode]) -> RolloutTally:
    tally = RolloutTally()
    for episode in episodes:
        tally.add(episode)
    return tally


def policy_summary(episodes: Sequence[Episode]) -> dict[str, Any]:
    tally = tally_of(episodes)
    summary = tally.summary()
    per_episode = [len(set(e.totals.achievements)) for e in episodes]
    return {
        "crafter_score": summary["crafter_score"],
        "mean_achievements": summary["mean_achievements"],
        "episodes_with_3_or_more": sum(count >= 3 for count in per_episode),
        "distinct_achievements": len([name for name, count in tally.achievements.items() if count]),
        "mean_reward": summary["mean_reward"],
        "mean_length": summary["mean_length"],
        "invalid_rate_%": summary["invalid_rate_%"],
        "deaths": summary["deaths"],
        "success_rates_%": {name: round(rate, 1) for name, rate in tally.success_rates().items()},
    }


# --- statistics over episodes --------------------------------------------------------------------------------------


def score_of(episodes: Sequence[Episode]) -> float:
    return tally_of(episodes).score


def mean_achievements(episodes: Sequence[Episode]) -> float:
    return sum(len(set(e.totals.achievements)) for e in episodes) / max(1, len(episodes))


def mean_reward(episodes: Sequence[Episode]) -> float:
    return sum(e.totals.reward for e in episodes) / max(1, len(episodes))


def invalid_rate(episodes: Sequence[Episode]) -> float:
    decisions = sum(sum(1 for step in e.steps if step.plan_index == 0) for e in episodes)
    return 100.0 * sum(e.totals.invalid_actions for e in episodes) / max(1, decisions)


STATISTICS: dict[str, Callable[[Sequence[Episode]], float]] = {
    "crafter_score": score_of,
    "mean_achievements": mean_achievements,
    "mean_reward": mean_reward,
    "invalid_rate_%": invalid_rate,
}


def paired_bootstrap(
    policy: Sequence[Episode], baseline: Sequence[Episode], statistic: Callable[[Sequence[Episode]], float],
    samples: int, seed: int = 0,
) -> tuple[float, float, float]:
    """(difference policy - baseline, 2.5th and 97.5th percentile of the difference over resampled seeds).

    Both policies played the same seeds, so a resample draws seeds and keeps each seed's pair of episodes together.
    """
    difference = statistic(policy) - statistic(baseline)
    rng = random.Random(seed)
    count = len(policy)
    draws = []
    for _ in range(samples):
        picks = [rng.randrange(count) for _ in range(count)]
        draws.append(statistic([policy[i] for i in picks]) - statistic([baseline[i] for i in picks]))
    draws.sort()
    low = draws[int(0.025 * (samples - 1))]
    high = draws[int(round(0.975 * (samples - 1)))]
    return difference, low, high


def comparison_rows(policy: Sequence[Episode], baseline: Sequence[Episode], samples: int) -> list[dict[str, Any]]:
    rows = []
    for name, statistic in STATISTICS.items():
        difference, low, high = paired_bootstrap(policy, baseline, statistic, samples)
        rows.append({"statistic": name, "policy": round(statistic(policy), 3), "baseline": round(statistic(baseline), 3),
                     "difference": round(difference, 3), "ci95_low": round(low, 3), "ci95_high": round(high, 3)})
    return rows


# --- the command ---------------------------------------------------------------------------------------------------


@dataclass
class EvalRequest:
    out: Path
    overwrite: bool = False


def outputs_for(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("") if out.suffix == ".json" else out
    return {"results": out, "policy": Path(f"{stem}.policy.jsonl"), "baseline": Path(f"{stem}.baseline.jsonl"),
            "chart": Path(f"{stem}.png")}


def run_eval(settings: Settings, request: EvalRequest,
             output: Output | None = None) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Play the policy (and the baseline) on the eval seeds; write results, episodes and chart; return the summary
    and its tables."""
    output = output or Output()
    config = settings.crafter.eval
    if not config.policy:
        raise InputError("crafter eval needs --policy SPEC (a student folder, a model spec, scripted or random)")
    paths = outputs_for(Path(request.out))
    if paths["results"].exists() and not request.overwrite:
        raise InputError(f"{paths['results']}: already exists; add --overwrite to replace it")
    started_at = now_iso()
    seeds = eval_seeds(settings)

    policy = open_policy(config.policy, "policy", settings, output=output)
    for note in policy.notes:
        output.info(note)
    policy_episodes = play_policy(policy, seeds, settings, output)
    write_records(paths["policy"], policy_episodes)
    policies = [(policy, policy_episodes)]
    if config.baseline:
        baseline = open_policy(config.baseline, "baseline", settings, like=policy.prompt, output=output)
        for note in baseline.notes:
            output.info(note)
        baseline_episodes = play_policy(baseline, seeds, settings, output)
        write_records(paths["baseline"], baseline_episodes)
        policies.append((baseline, baseline_episodes))

    results: dict[str, Any] = {
        "seeds": seeds, "max_steps": config.max_steps, "difficulty": config.difficulty,
        "policies": {p.label: {**p.describe(), **policy_summary(episodes), "episodes_file": str(paths[p.label])}
                     for p, episodes in policies},
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    if config.baseline:
        rows = comparison_rows(policy_episodes, policies[1][1], config.bootstrap_samples)
        results["comparison"] = rows
        tables["comparison"] = rows
    tables["achievements"] = [
        {"achievement": name, **{f"{p.label}_%": round(tally_of(eps).success_rates()[name], 1) for p, eps in policies}}
        for name in ACHIEVEMENTS
    ]
    bar_chart([f"{p.label}: {p.spec}" for p, _ in policies],
              [(paths[p.label], tally_of(episodes)) for p, episodes in policies], paths["chart"])
    with atomic_write(paths["results"]) as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    write_manifest(paths["results"], settings=settings, started_at=started_at,
                   inputs=[path for path in (paths["policy"], paths["baseline"]) if path.exists()],
                   counts={"episodes": len(seeds), "policies": len(policies)})

    summary: dict[str, Any] = {"episodes": len(seeds), "seeds": f"{seeds[0]}..{seeds[-1]}",
                               "max_steps": config.max_steps}
    for p, _ in policies:
        stats = results["policies"][p.label]
        summary[f"{p.label}"] = p.spec
        summary[f"{p.label}_crafter_score"] = stats["crafter_score"]
        summary[f"{p.label}_mean_achievements"] = stats["mean_achievements"]
        summary[f"{p.label}_invalid_rate_%"] = stats["invalid_rate_%"]
    if config.baseline:
        score = next(row for row in results["comparison"] if row["statistic"] == "crafter_score")
        summary["score_difference"] = score["difference"]
        summary["score_difference_ci95"] = f"[{score['ci95_low']}, {score['ci95_high']}]"
    summary["results"] = str(paths["results"])
    summary["chart"] = str(paths["chart"])
    return summary, tables

