"""The paired bootstrap both evals report."""

from __future__ import annotations

import statistics

import pytest

from teachkit.students.bootstrap import paired_bootstrap, paired_scores_bootstrap


def test_a_statistic_that_is_not_a_mean_is_resampled_over_whole_pairs() -> None:
    # The share of items where the policy beats the baseline: no per-item difference to average.
    policy, baseline = [3, 4, 3, 2, 4, 3, 5, 1], [0, 1, 0, 0, 1, 0, 2, 2]

    def share_better(picks) -> float:
        return sum(policy[i] > baseline[i] for i in picks) / len(picks) - 0.5

    interval = paired_bootstrap(8, share_better, resamples=1000, seed=3)
    assert interval.difference == pytest.approx(7 / 8 - 0.5)
    assert interval.low <= interval.difference <= interval.high <= 0.5 and interval.above_zero
    assert paired_bootstrap(8, share_better, resamples=1000, seed=3) == interval  # seeded: the same interval
    with pytest.raises(ValueError):
        paired_bootstrap(0, share_better, resamples=10, seed=0)


def test_paired_bootstrap_interval() -> None:
    base = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    better = [b + d for b, d in zip(base, [0.1, 0.2, 0.05, 0.15, 0.1, 0.2, 0.1, 0.1], strict=True)]
    result = paired_scores_bootstrap(base, better, resamples=2000, seed=1)
    assert result["pairs"] == 8
    assert result["mean_difference"] == pytest.approx(statistics.fmean([0.1, 0.2, 0.05, 0.15, 0.1, 0.2, 0.1, 0.1]))
    low, high = result["ci95"]
    assert 0.05 <= low < result["mean_difference"] < high <= 0.2
    assert result["interval_above_zero"] is True
    assert paired_scores_bootstrap(base, better, resamples=2000, seed=1) == result  # seeded: the same interval

    # Differences of both signs: the interval straddles zero.
    mixed = [b + d for b, d in zip(base, [0.3, -0.3, 0.2, -0.2, 0.1, -0.1, 0.05, -0.05], strict=True)]
    straddle = paired_scores_bootstrap(base, mixed, resamples=2000, seed=1)
    assert straddle["ci95"][0] < 0 < straddle["ci95"][1] and not straddle["interval_above_zero"]

    # A pair where either score failed is left out.
    partial = paired_scores_bootstrap([0.1, None, 0.5], [0.3, 0.9, None], resamples=500, seed=0)
    assert partial["pairs"] == 1 and partial["mean_difference"] == pytest.approx(0.2)
    assert partial["ci95"] == [pytest.approx(0.2), pytest.approx(0.2)]
    assert paired_scores_bootstrap([None], [0.5], resamples=100, seed=0)["ci95"] is None


def test_bootstrap_by_dialogue_is_wider_when_turns_of_a_dialogue_move_together() -> None:
    # Four dialogues of five turns: two gain 0.4 on every turn, two gain nothing.
    gains = [0.4] * 10 + [0.0] * 10
    groups = [f"d{i // 5}" for i in range(20)]
    result = paired_scores_bootstrap([0.0] * 20, gains, resamples=4000, seed=2, groups=groups)
    assert result["groups"] == 4 and result["mean_difference"] == pytest.approx(0.2)
    per_sample, per_dialogue = result["ci95"], result["ci95_by_group"]
    assert per_dialogue[1] - per_dialogue[0] > 1.5 * (per_sample[1] - per_sample[0])
    assert per_dialogue[0] <= 0.0 + 1e-9 < per_sample[0]


