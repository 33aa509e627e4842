"""`teachkit crafter eval`: a policy, and optionally a baseline, play the same seeds; scores side by side.

    teachkit crafter eval --policy runs/student --baseline smollm2-135m --out runs/eval.json

A policy is a student folder (`crafter finetune --backend local` output: adapter or merged), any local checkpoint,
HF id or `smollm2-135m`, bare or as `local:NAME` (played by `local_policy.LocalPolicy`, one batched forward pass
per step for all episodes in flight), a served model spec (a tuned model's endpoint, `openai:MODEL@URL`,
`gemini:MODEL`), a tuning job record (`<data>.tuning-ID.json`, played through its endpoint: `students.served`), or
`scripted` / `random`. Episodes are played by the rollout loop (`play.play_episodes`). The report always holds the
random policy's row too (played on the same seeds when neither policy is `random`: it costs seconds), with the policy's
paired difference to it.

Every student is prompted as its training data prompted it (system prompt, observation format, earlier turns,
reply style): a local student from its `teachkit-training.json`, a cloud-tuned one from its job record, any other
from `--prompt-like` (a student folder, a job record or the fine-tuning data file); `--observation` / `--history`
override. A served student (`served_policy.ServedStudent`) gets the same messages a local one does. A model spec
with no known training prompt is played as a teacher (rules, recent steps, the action enum). A baseline with no
training record of its own is prompted like the policy. The baseline plays the same seeds, so the comparison is
paired: the difference of each statistic comes with a bootstrap 95% interval over resampled seeds
(`students.bootstrap`).

Writes OUT (the evaluation report every eval writes: `records.EvalReport`, docs/eval-report.md), OUT's stem +
`.policy.jsonl` / `.baseline.jsonl` / `.random.jsonl` (the episodes, readable by `crafter report`, appended as each
episode ends), OUT's stem + `.png` (success rate per achievement, every policy), each with its `.manifest.json`.
`--resume` keeps the episodes already in those files and plays only the seeds they lack.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.env import ACHIEVEMENTS
from teachkit.crafter.play import PlayConfig, episode_id, play_episodes
from teachkit.crafter.report import RolloutTally, bar_chart
from teachkit.crafter.teachers import Teacher, open_teacher
from teachkit.errors import InputError
from teachkit.eval_report import eval_command, score_summary, write_eval_report
from teachkit.jsonl import ResumableAppender, read_records
from teachkit.llm.spec import parse_for_role
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, EvalModel, EvalReport, ItemScores, PairedDifference, StudentPrompt
from teachkit.settings import Settings
from teachkit.students.bootstrap import paired_bootstrap

DEFAULT_OBSERVATION = "full"


@dataclass
class Policy:
    """A policy ready to play, with how it is prompted."""

    label: str
    spec: str
    player: Teacher  # what decides in the rollout loop: a student, a served model or a built-in policy
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
            data["with_thoughts"] = self.prompt.with_thoughts
            # A served student writes its reply as text; a local one scores the 17 replies or generates.
            data["decode"] = getattr(self.player, "decode", "text")
        return data


def student_prompt_of(name: str) -> StudentPrompt | None:
    """The prompt a local student (a folder) was trained with (its teachkit-training.json), when it has one."""
    from teachkit.students.artifacts import read_record

    path = Path(name).expanduser()
    if not path.is_dir():
        return None
    record = read_record(path)
    return record.prompt if record is not None else None


def prompt_like(path: Path) -> StudentPrompt:
    """`--prompt-like PATH`: the prompt of a student folder, of a tuning job record, or of fine-tuning data."""
    from teachkit.sft_data.formats import TARGETS, detect_target
    from teachkit.students.served import prompt_of_job_record

    path = Path(path)
    where = f"--prompt-like {path}"
    if path.is_dir():
        prompt = student_prompt_of(str(path))
        if prompt is None:
            raise InputError(f"{where}: no teachkit-training.json with a prompt; give the student's training data")
        return prompt
    if not path.is_file():
        raise InputError(f"{where}: no such file or folder; give a student folder, a tuning job record or the "
                         "fine-tuning data file")
    if path.suffix == ".json":
        return prompt_of_job_record(path, where=where)
    from teachkit.crafter.finetune import student_prompt_of_file
    from teachkit.jsonl import read_json_lines

    first = next((record for _, record in read_json_lines(path)), None)
    target = detect_target(first) if first is not None else None
    if target is None:
        raise InputError(f"{where}: not fine-tuning data ({', '.join(TARGETS[:-1])} or {TARGETS[-1]} examples)")
    return student_prompt_of_file(path, target)


def open_policy(spec: str, label: str, settings: Settings, *, like: StudentPrompt | None = None,
                output: Output | None = None) -> Policy:
    """The policy a --policy/--baseline value names, prompted as its training data prompted it. `like` is the
    other policy's prompt: a student with no training record of its own is prompted as the one it is compared
    with."""
    config = settings.crafter.eval
    where = f"--{label}" if label in ("policy", "baseline") else label
    choice = parse_for_role(spec, "policy", where=where)
    kind, spec = choice.kind, choice.name
    trained: StudentPrompt | None = None
    if kind == "job":
        from teachkit.students.served import tuned_endpoint

        endpoint = tuned_endpoint(spec)
        spec, kind, trained = endpoint.spec, "served", endpoint.prompt
    elif kind == "local":
        trained = student_prompt_of(spec)
    if kind != "builtin" and label == "policy" and config.prompt_like is not None:
        trained = prompt_like(config.prompt_like)
    notes = []
    if kind == "builtin" or (kind == "served" and trained is None and like is None):
        observation = config.observation or DEFAULT_OBSERVATION
        play_settings = settings.model_copy(deep=True)
        play_settings.crafter.rollout.observation = observation
        if kind == "served":
            notes.append(f"{label} {spec}: no training prompt known; played as a teacher (rules, recent steps, the "
                         "action enum). Give its tuning job record or --prompt-like to play it as a student")
        # The built-in policies, and a model never trained on our prompt, play as a teacher does.
        return Policy(label, spec, open_teacher(spec, play_settings, where=where), observation, notes=notes)

    prompt = (trained or like or StudentPrompt()).model_copy()
    if trained is None and like is not None:
        notes.append(f"{label} {spec}: no training record; prompted like the policy it is compared with")
    if config.observation:
        prompt.observation_format = config.observation
    if config.history is not None:
        prompt.history = config.history
    observation = prompt.observation_format or DEFAULT_OBSERVATION
    prompt.observation_format = observation
    if kind == "served":
        from teachkit.crafter.served_policy import ServedStudent
        from teachkit.llm import open_client

        served = ServedStudent(open_client(spec, settings, role="teacher", where=where), prompt)
        return Policy(label, served.spec, served, observation, prompt, spec, notes)

    from teachkit.crafter.local_policy import LocalPolicy
    from teachkit.students.loading import load_student
    from teachkit.students.progress import quiet_libraries

    quiet_libraries(output or Output())
    decode = config.decode if config.decode != "auto" else ("generate" if prompt.with_thoughts else "score")
    student = load_student(spec, settings)
    player = LocalPolicy(f"local:{spec}", student.model, student.tokenizer, prompt,
                         decode=decode, max_new_tokens=config.max_new_tokens,
                         cpu_bf16_autocast=config.cpu_bf16_autocast, temperature=config.temperature)
    return Policy(label, player.spec, player, observation, prompt, student.loaded, notes)


def eval_seeds(settings: Settings) -> list[int]:
    config = settings.crafter.eval
    return [config.seed + index for index in range(config.episodes)]


def play_policy(policy: Policy, seeds: Sequence[int], settings: Settings, output: Output, *,
                episodes_file: Path | None = None, resume: bool = False, overwrite: bool = False) -> list[Episode]:
    """Every seed once, in the rollout loop; episodes come back in seed order. With `episodes_file` each episode is
    appended to it as it ends, and `resume` keeps the episodes already there (played with the same settings)."""
    from teachkit.crafter.rollout import check_resumable

    config = settings.crafter.eval
    hashed = hashlib.sha256(json.dumps(
        {"spec": policy.spec, "observation": policy.observation_format, "max_steps": config.max_steps,
         "difficulty": config.difficulty}, sort_keys=True).encode()).hexdigest()[:12]
    play = PlayConfig(max_steps=config.max_steps, difficulty=config.difficulty,
                      observation_format=policy.observation_format, history=settings.crafter.rollout.history,
                      settings_hash=hashed)
    episodes: dict[int, Episode] = {}
    appender = None
    if episodes_file is not None:
        if resume:
            check_resumable(episodes_file, hashed)
        appender = ResumableAppender(episodes_file, Episode, resume=resume, overwrite=overwrite, warn=output.warn)
        if resume:
            wanted = {episode_id(seed) for seed in seeds}
            episodes = {e.seed: e for e in read_records(episodes_file, Episode) if e.id in wanted}
            if episodes:
                output.info(f"{policy.label}: {len(episodes)} of {len(seeds)} episodes already in {episodes_file}")
    to_play = [seed for seed in seeds if seed not in episodes]
    steps = 0

    async def run() -> None:
        nonlocal steps
        try:
            with output.progress(f"{policy.label}", total=len(to_play), unit="episodes") as bar:
                def on_step(_: Any) -> None:
                    nonlocal steps
                    steps += 1
                    if steps % 50 == 0:
                        bar.update(steps=steps)

                async for episode in play_episodes(to_play, policy.player, play, concurrency=config.concurrency,
                                                   on_step=on_step):
                    episodes[episode.seed] = episode
                    if appender is not None:
                        appender.append(episode)
                    bar.advance(1, steps=steps, achievements=len(episode.totals.achievements))
                    if not output.shows_progress:
                        output.info(f"{policy.label} {episode.id}: {len(episode.totals.achievements)} achievements "
                                    f"in {episode.totals.steps} steps")
        finally:
            await policy.player.aclose()
            if appender is not None:
                appender.close()

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


def paired_difference(
    policy: Sequence[Episode], baseline: Sequence[Episode], statistic: Callable[[Sequence[Episode]], float],
    samples: int, seed: int = 0,
) -> tuple[float, float, float]:
    """(difference policy - baseline, 2.5th and 97.5th percentile of the difference over resampled seeds).

    Both policies played the same seeds, so a resample draws seeds and keeps each seed's pair of episodes together.
    """
    def difference(picks: Any) -> float:
        return statistic([policy[i] for i in picks]) - statistic([baseline[i] for i in picks])

    interval = paired_bootstrap(len(policy), difference, resamples=samples, seed=seed)
    return interval.difference, interval.low, interval.high


def comparison_rows(policy: Sequence[Episode], baseline: Sequence[Episode], samples: int) -> list[dict[str, Any]]:
    rows = []
    for name, statistic in STATISTICS.items():
        difference, low, high = paired_difference(policy, baseline, statistic, samples)
        rows.append({"statistic": name, "policy": round(statistic(policy), 3), "baseline": round(statistic(baseline), 3),
                     "difference": round(difference, 3), "ci95_low": round(low, 3), "ci95_high": round(high, 3)})
    return rows


def shared_report(results: dict[str, Any], policies: Sequence[tuple[Policy, Sequence[Episode]]], seeds: list[int],
                  settings: Settings, started_at: str) -> EvalReport:
    """The results in the shape every evaluation writes (`records.EvalReport`): an episode's score is the number
    of achievements it unlocked; the statistics of each policy and the comparison rows as differences."""
    config = settings.crafter.eval
    random_label = next(p.label for p, _ in policies if p.spec == RANDOM)
    differences = [
        PairedDifference(statistic=row["statistic"], model="policy", baseline=baseline, model_value=row["policy"],
                         baseline_value=row["baseline"], difference=row["difference"],
                         ci95=[row["ci95_low"], row["ci95_high"]], pairs=len(seeds),
                         resamples=config.bootstrap_samples, interval_above_zero=row["ci95_low"] > 0)
        for key, baseline in (("comparison", "baseline"), ("comparison_to_random", random_label))
        # A random baseline's two comparisons are one.
        if not (key == "comparison_to_random" and baseline == "baseline")
        for row in results.get(key, [])
    ]
    achievements = {p.label: [float(len(set(e.totals.achievements))) for e in episodes] for p, episodes in policies}
    return EvalReport(
        pipeline="crafter",
        command=eval_command("crafter eval", settings, ["crafter.eval"], started_at),
        item_score=f"the achievements unlocked in the episode (of {len(ACHIEVEMENTS)})",
        models=[EvalModel(label=p.label, spec=p.spec, loaded=p.loaded, details=p.describe()) for p, _ in policies],
        items=[ItemScores(id=episode_id(seed), scores={label: counts[index] for label, counts in achievements.items()})
               for index, seed in enumerate(seeds)],
        summaries={p.label: score_summary(achievements[p.label], {name: round(statistic(episodes), 4)
                                                                  for name, statistic in STATISTICS.items()})
                   for p, episodes in policies},
        differences=differences,
        **results,
    )


# --- the command ---------------------------------------------------------------------------------------------------


@dataclass
class EvalRequest:
    out: Path
    overwrite: bool = False
    resume: bool = False


RANDOM = "random"


def outputs_for(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("") if out.suffix == ".json" else out
    return {"results": out, "policy": Path(f"{stem}.policy.jsonl"), "baseline": Path(f"{stem}.baseline.jsonl"),
            RANDOM: Path(f"{stem}.random.jsonl"), "chart": Path(f"{stem}.png")}


def run_eval(settings: Settings, request: EvalRequest,
             output: Output | None = None) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Play the policy (and the baseline) on the eval seeds; write results, episodes and chart; return the summary
    and its tables."""
    output = output or Output()
    config = settings.crafter.eval
    if not config.policy:
        raise InputError("crafter eval needs --policy SPEC (a student folder, a model spec, scripted or random)")
    paths = outputs_for(Path(request.out))
    if paths["results"].exists() and not request.overwrite and not request.resume:
        raise InputError(f"{paths['results']}: already exists; add --overwrite to replace it, or --resume to "
                         "finish an interrupted evaluation")
    files = {"resume": request.resume, "overwrite": request.overwrite and not request.resume}
    started_at = now_iso()
    seeds = eval_seeds(settings)

    policy = open_policy(config.policy, "policy", settings, output=output)
    for note in policy.notes:
        output.info(note)
    policy_episodes = play_policy(policy, seeds, settings, output, episodes_file=paths["policy"], **files)
    policies = [(policy, policy_episodes)]
    if config.baseline:
        baseline = open_policy(config.baseline, "baseline", settings, like=policy.prompt, output=output)
        for note in baseline.notes:
            output.info(note)
        baseline_episodes = play_policy(baseline, seeds, settings, output, episodes_file=paths["baseline"], **files)
        policies.append((baseline, baseline_episodes))
    # The floor every student is read against; played only when neither policy is the random one.
    random_episodes = next((eps for p, eps in policies if p.spec == RANDOM), None)
    if random_episodes is None:
        random_policy = open_policy(RANDOM, RANDOM, settings, output=output)
        random_episodes = play_policy(random_policy, seeds, settings, output, episodes_file=paths[RANDOM], **files)
        policies.append((random_policy, random_episodes))

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
    if policy.spec != RANDOM:
        rows = comparison_rows(policy_episodes, random_episodes, config.bootstrap_samples)
        results["comparison_to_random"] = rows
        tables["comparison_to_random"] = rows
    tables["achievements"] = [
        {"achievement": name, **{f"{p.label}_%": round(tally_of(eps).success_rates()[name], 1) for p, eps in policies}}
        for name in ACHIEVEMENTS
    ]
    bar_chart([f"{p.label}: {p.spec}" for p, _ in policies],
              [(paths[p.label], tally_of(episodes)) for p, episodes in policies], paths["chart"])
    write_eval_report(paths["results"], shared_report(results, policies, seeds, settings, started_at))
    write_manifest(paths["results"], settings=settings, started_at=started_at,
                   inputs=[paths[p.label] for p, _ in policies],
                   counts={"episodes": len(seeds), "policies": len(policies)})
    for path in [paths[p.label] for p, _ in policies] + [paths["chart"]]:
        write_manifest(path, settings=settings, started_at=started_at, counts={"episodes": len(seeds)})

    summary: dict[str, Any] = {"episodes": len(seeds), "seeds": f"{seeds[0]}..{seeds[-1]}",
                               "max_steps": config.max_steps}
    for p, _ in policies:
        stats = results["policies"][p.label]
        summary[f"{p.label}"] = p.spec
        summary[f"{p.label}_crafter_score"] = stats["crafter_score"]
        summary[f"{p.label}_mean_achievements"] = stats["mean_achievements"]
        summary[f"{p.label}_invalid_rate_%"] = stats["invalid_rate_%"]
    for key, label in (("comparison", "score_difference"), ("comparison_to_random", "score_over_random")):
        if key in results:
            score = next(row for row in results[key] if row["statistic"] == "crafter_score")
            summary[label] = score["difference"]
            summary[f"{label}_ci95"] = f"[{score['ci95_low']}, {score['ci95_high']}]"
    summary["results"] = str(paths["results"])
    summary["chart"] = str(paths["chart"])
    return summary, tables

