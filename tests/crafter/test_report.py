"""Crafter scores, achievement tables and charts of rollout files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.env import ACHIEVEMENTS
from teachkit.crafter.report import RolloutTally, crafter_score, report
from teachkit.errors import InputError
from teachkit.jsonl import write_records
from teachkit.records import Episode, EpisodeTotals, Step, TokenUsage

runner = CliRunner()


def test_crafter_score_is_the_papers_geometric_mean() -> None:
    assert crafter_score([100.0] * 22) == pytest.approx(100.0)
    assert crafter_score([0.0] * 22) == 0.0
    rates = [50.0] * 11 + [0.0] * 11
    assert crafter_score(rates) == pytest.approx(math.sqrt(51) - 1)
    # Breadth counts: one achievement always is worth less than several half the time.
    assert crafter_score([100.0] + [0.0] * 21) < crafter_score([50.0] * 4 + [0.0] * 18)


def episode(
    seed: int,
    achievements: list[str],
    steps: int = 4,
    invalid: int = 0,
    death: str | None = None,
    teacher: str = "random",
) -> Episode:
    return Episode(
        id=f"seed-{seed}",
        seed=seed,
        teacher=teacher,
        settings_hash="h",
        max_steps=10,
        steps=[Step(t=t, observation="o", action="noop", valid=t >= invalid) for t in range(steps)],
        totals=EpisodeTotals(
            achievements=achievements,
            steps=steps,
            reward=len(achievements),
            invalid_actions=invalid,
            tokens=TokenUsage(prompt=100 * steps),
            cost_usd=0.5,
            death_cause=death,
        ),
    )


def test_tally_summarizes_episodes() -> None:
    tally = RolloutTally()
    tally.add(episode(0, ["collect_wood", "place_table"], invalid=1, death="zombie"))
    tally.add(episode(1, ["collect_wood"]))
    rates = tally.success_rates()
    assert rates["collect_wood"] == 100.0 and rates["place_table"] == 50.0 and rates["eat_cow"] == 0.0
    summary = tally.summary()
    assert summary["episodes"] == 2 and summary["mean_achievements"] == 1.5
    assert summary["invalid_rate_%"] == 12.5 and summary["tokens_per_step"] == 100.0
    assert summary["deaths"] == {"zombie": 1, "survived": 1} and summary["cost_usd"] == 1.0
    assert summary["crafter_score"] == round(crafter_score(list(rates.values())), 2)
    assert [row["achievement"] for row in tally.achievement_rows()] == list(ACHIEVEMENTS)


def test_report_compares_files_and_draws_a_chart(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "run.jsonl", tmp_path / "b" / "run.jsonl"
    write_records(first, [episode(0, ["collect_wood"]), episode(1, [])])
    write_records(second, [episode(0, ["collect_wood", "eat_cow"], teacher="scripted")])
    png = tmp_path / "chart.png"
    result = runner.invoke(app, ["crafter", "report", str(first), str(second), "--png", str(png), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [row["episodes"] for row in document["files"]] == [2, 1]
    wood = next(row for row in document["achievements"] if row["achievement"] == "collect_wood")
    assert wood == {"achievement": "collect_wood", str(first): 50.0, str(second): 100.0}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_one_file_and_of_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    write_records(good, [episode(0, ["collect_wood"])])
    summary, tables = report([good])
    assert summary["episodes"] == 1 and len(tables["achievements"]) == 22
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1"):
        report([bad])
    result = runner.invoke(app, ["crafter", "report", str(bad)])
    assert result.exit_code == 2 and "bad.jsonl:1" in result.output
