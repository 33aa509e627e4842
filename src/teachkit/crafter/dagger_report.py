"""What `crafter dagger` reports: the baselines on the held-out seeds, each round's scores with their intervals,
DIR/summary.json, DIR/curve.png and the closing table."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teachkit.crafter.evaluate import (
    Policy,
    mean_achievements,
    open_policy,
    paired_difference,
    play_policy,
    policy_summary,
    score_of,
)
from teachkit.jsonl import atomic_write, read_records, write_records
from teachkit.records import Episode
from teachkit.students.bootstrap import paired_bootstrap

if TYPE_CHECKING:
    from teachkit.crafter.dagger import DaggerRun


def evaluate_baselines(run: DaggerRun) -> dict[str, list[Episode]]:
    """random, the teacher and the untrained base model on the held-out seeds; each played once per run."""
    folder = run.out_dir / "baselines"
    episodes: dict[str, list[Episode]] = {}
    for name in ("random", "teacher", "base"):
        path = folder / f"{name}.jsonl"
        if path.is_file():
            episodes[name] = list(read_records(path, Episode))
            continue
        if name == "teacher":
            teacher = run.open_teacher()
            if teacher is None:
                continue
            policy = Policy("teacher", teacher.spec, teacher, run.config.observation)
        else:
            spec = "random" if name == "random" else run.start_model
            policy = open_policy(spec, name, run.settings, like=run.prompt, output=run.output)
        played = play_policy(policy, run.eval_seeds, run.settings, run.output)
        folder.mkdir(parents=True, exist_ok=True)
        write_records(path, played)
        episodes[name] = played
    return episodes


def eval_stats(episodes: Sequence[Episode], random_episodes: Sequence[Episode] | None,
               samples: int) -> dict[str, Any]:
    """Crafter score and achievements per episode, each with its bootstrap 95% interval over the seeds, and their
    difference to the random policy on the same seeds (paired)."""
    stats: dict[str, Any] = {}
    for name, statistic in (("crafter_score", score_of), ("mean_achievements", mean_achievements)):
        own = paired_bootstrap(len(episodes), picked(episodes, statistic), resamples=samples, seed=0)
        stats[name] = round(own.difference, 3)
        stats[f"{name}_ci95"] = [round(own.low, 3), round(own.high, 3)]
        if random_episodes is not None:
            versus, low, high = paired_difference(episodes, random_episodes, statistic, samples)
            stats[f"{name}_vs_random"] = round(versus, 3)
            stats[f"{name}_vs_random_ci95"] = [round(low, 3), round(high, 3)]
    summary = policy_summary(list(episodes))
    stats["success_rates_%"] = summary["success_rates_%"]
    stats["mean_length"] = summary["mean_length"]
    return stats


def picked(episodes: Sequence[Episode], statistic: Callable[[Sequence[Episode]], float]) -> Callable[[Any], float]:
    return lambda picks: statistic([episodes[int(i)] for i in picks])


# --- the outputs -------------------------------------------------------------------------------------------------


def publish_student(source: Path, target: Path) -> None:
    """DIR/student becomes a copy of `source`, replaced whole (a killed copy leaves the previous one)."""
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def baseline_labels(run: DaggerRun) -> dict[str, str]:
    return {"random": "random", "teacher": f"teacher ({run.config.teacher})", "base": f"base ({run.config.student})"}


def write_summary(run: DaggerRun, rounds: list[dict[str, Any]],
                  baselines: dict[str, list[Episode]]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """DIR/summary.json and DIR/curve.png from the finished rounds; returns the closing summary and table."""
    samples = run.settings.crafter.eval.bootstrap_samples
    labels = baseline_labels(run)
    baseline_stats = {name: eval_stats(episodes, baselines.get("random") if name != "random" else None, samples)
                      for name, episodes in baselines.items()}
    document = {
        "teacher": run.config.teacher,
        "student": run.config.student,
        "start_model": run.start_model,
        "eval": {"seeds": run.eval_seeds, "max_steps": run.settings.crafter.eval.max_steps},
        "baselines": {labels[name]: stats for name, stats in baseline_stats.items()},
        "rounds": rounds,
        "final_student": str(run.out_dir / "student") if rounds else None,
    }
    with atomic_write(run.out_dir / "summary.json") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    if rounds:
        draw_curve(rounds, {labels[name]: stats for name, stats in baseline_stats.items()}, run.out_dir / "curve.png",
                   f"{run.config.student} taught by {run.config.teacher}, {len(run.eval_seeds)} held-out seeds")
    rows = [table_row(labels[name], stats) for name, stats in baseline_stats.items()]
    rows += [table_row(round_label(r), r) for r in rounds]
    summary: dict[str, Any] = {
        "rounds_finished": len(rounds),
        "examples": rounds[-1]["examples"] if rounds else 0,
        "eval_seeds": f"{run.eval_seeds[0]}..{run.eval_seeds[-1]}",
        "eval_max_steps": run.settings.crafter.eval.max_steps,
        "student": document["final_student"],
        "summary": str(run.out_dir / "summary.json"),
        "curve": str(run.out_dir / "curve.png") if rounds else None,
    }
    if rounds:
        last = rounds[-1]
        summary["final_crafter_score"] = last["crafter_score"]
        summary["final_mean_achievements"] = last["mean_achievements"]
        if "crafter_score_vs_random" in last:
            low, high = last["crafter_score_vs_random_ci95"]
            summary["score_vs_random"] = f"{last['crafter_score_vs_random']:+.2f} [{low:+.2f}, {high:+.2f}]"
    return summary, {"rounds": rows}


def round_label(result: dict[str, Any]) -> str:
    how = "behaviour cloning" if result["kind"] == "behaviour cloning" else f"dagger, beta {result['beta']:g}"
    return f"round {result['round']} ({how})"


def table_row(policy: str, stats: dict[str, Any]) -> dict[str, Any]:
    def interval(name: str) -> str:
        low, high = stats[f"{name}_ci95"]
        return f"{low:.2f}-{high:.2f}"

    row = {"policy": policy, "crafter_score": stats["crafter_score"], "score_ci95": interval("crafter_score"),
           "achievements": stats["mean_achievements"], "achievements_ci95": interval("mean_achievements")}
    if "crafter_score_vs_random" in stats:
        low, high = stats["crafter_score_vs_random_ci95"]
        row["score_vs_random"] = f"{stats['crafter_score_vs_random']:+.2f} [{low:+.2f}, {high:+.2f}]"
    else:
        row["score_vs_random"] = None
    return row


def draw_curve(rounds: list[dict[str, Any]], baselines: dict[str, dict[str, Any]], png: Path, title: str) -> None:
    """Crafter score and achievements per episode by round (95% intervals as error bars) beside the baselines'
    values (lines, with their intervals as bands)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["round"] for r in rounds]
    colours = {"random": "tab:gray", "teacher": "tab:green", "base": "tab:red"}
    for axis, name, label in ((axes[0], "crafter_score", "Crafter score (%)"),
                              (axes[1], "mean_achievements", "achievements per episode")):
        values = [r[name] for r in rounds]
        errors = [[v - r[f"{name}_ci95"][0] for v, r in zip(values, rounds, strict=True)],
                  [r[f"{name}_ci95"][1] - v for v, r in zip(values, rounds, strict=True)]]
        axis.errorbar(xs, values, yerr=errors, marker="o", capsize=4, color="tab:blue", label="student")
        for baseline, stats in baselines.items():
            colour = colours.get(baseline.split(" ")[0], "tab:purple")
            axis.axhline(stats[name], color=colour, linestyle="--", label=baseline)
            axis.axhspan(*stats[f"{name}_ci95"], color=colour, alpha=0.12)
        axis.set_xlabel("round (0: " + ("behaviour cloning)" if rounds[0]["kind"] == "behaviour cloning" else "dagger)"))
        axis.set_ylabel(label)
        axis.set_xticks(xs)
        axis.set_ylim(bottom=0)
    axes[1].legend(loc="best", fontsize="small")
    figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    with atomic_write(png, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)
