from __future__ import annotations

from pathlib import Path

import pytest
from crafter import constants

from teachkit.crafter.scoring import TIERS, EpisodeScorer, achievement_tiers
from teachkit.errors import ConfigError
from teachkit.settings import ScoreSettings, load_settings
from tests.crafter.episode_factory import make_episode


def test_default_tiers_hold_each_of_the_22_achievements_once():
    settings = ScoreSettings()
    listed = [name for tier in TIERS for name in getattr(settings, tier)]
    assert sorted(listed) == sorted(constants.achievements)
    assert len(listed) == len(set(listed)) == 22
    tiers = achievement_tiers(settings)
    assert tiers["collect_wood"] == "easy"
    assert tiers["make_stone_pickaxe"] == "medium"
    assert tiers["collect_diamond"] == "hard"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"easy": ["collect_wood", "fly"]}, "unknown achievement 'fly'"),
        ({"hard": ["collect_iron", "make_iron_pickaxe", "make_iron_sword", "collect_diamond", "collect_wood"]},
         "collect_wood is already in tier easy"),
        ({"hard": ["collect_iron"]}, "collect_diamond, make_iron_pickaxe, make_iron_sword in no tier"),
    ],
)
def test_bad_tiers_are_a_config_error_naming_the_achievement(change, message):
    with pytest.raises(ConfigError, match=message):
        EpisodeScorer(ScoreSettings(**change))


def test_score_breakdown_adds_up_with_every_component():
    # 200 steps; three achievements (easy, medium, hard); 4 invalid; one loop of 9 blocked moves at steps 20..28.
    actions = ["move_left", "move_up"] * 100
    places = list(range(200))
    for t in range(20, 30):
        actions[t] = "move_right"
        places[t] = 7  # the same view: the moves change nothing
    episode = make_episode(
        actions=actions,
        places=places,
        achievements_at={3: ["collect_wood"], 50: ["make_wood_pickaxe"], 150: ["collect_iron"]},
        invalid_at=[60, 61, 62, 63],
    )
    score = EpisodeScorer(ScoreSettings()).score(episode)
    b = score.breakdown
    assert b["achievement_points"] == 1 + 2.5 + 5
    assert (b["easy"], b["medium"], b["hard"], b["achievements"]) == (1, 1, 1, 3)
    assert b["efficiency"] == pytest.approx(3 * 100 / 200)
    assert b["survival"] == 1.0
    assert b["invalid_penalty"] == pytest.approx(-0.05 * 4)
    # Steps 20..28 each end in the same view (step 29 still sees place 7); step 29's successor differs.
    assert b["loop_steps"] == 9
    assert b["loop_penalty"] == pytest.approx(-0.02 * 9)
    expected = 8.5 + 1.5 + 1.0 - 0.2 - 0.18
    assert score.total == pytest.approx(expected)


def test_loops_need_the_same_action_unchanged_state_and_consecutive_steps():
    scorer = EpisodeScorer(ScoreSettings(loop_length=4))

    def loops(actions, places, drop=()):
        episode = make_episode(actions=actions, places=places)
        episode.steps = [step for step in episode.steps if step.t not in drop]
        return scorer.score(episode).breakdown["loop_steps"]

    # Step 0 is never part of a loop: the observation after it no longer says "the episode started".
    assert loops(["noop"] * 6, [1] * 6) == 4  # steps 1-4 judged unchanged (step 5 has no successor)
    assert loops(["noop"] * 4, [1] * 4) == 0  # steps 1-2: shorter than the loop length
    assert loops(["noop", "do"] * 3, [1] * 6) == 0  # the action changes every step
    assert loops(["noop"] * 6, [1, 1, 1, 2, 2, 2]) == 0  # the state changed after step 2
    assert loops(["noop"] * 12, [1] * 12) == 10
    assert loops(["noop"] * 12, [1] * 12, drop={6}) == 8  # the gap splits it into steps 1-4 and 7-10


def test_state_comparison_ignores_only_the_step_counter():
    scorer = EpisodeScorer(ScoreSettings())
    episode = make_episode(actions=["noop", "noop", "noop"], places=[3, 3, 3])
    first, second = (step.observation for step in episode.steps[1:])
    assert first != second
    assert scorer.state_of(first) == scorer.state_of(second)
    assert scorer.state_of("t12 day H9 F9 D9 E9\ninv: -") == scorer.state_of("t13 day H9 F9 D9 E9\ninv: -")
    assert scorer.state_of("t12 day H9 F9") != scorer.state_of("t13 day H8 F9")


def test_death_gives_the_fraction_of_max_steps_lived_and_short_episodes_do_not_win_on_efficiency():
    scorer = EpisodeScorer(ScoreSettings())
    died = make_episode(actions=["do"] * 50, max_steps=200, death_cause="zombie", achievements_at={0: ["collect_wood"]})
    b = scorer.score(died).breakdown
    assert b["survival"] == pytest.approx(50 / 200)
    # One achievement in 50 steps is divided by efficiency_min_steps (100), not by 50.
    assert b["efficiency"] == pytest.approx(1.0)


def test_weights_come_from_teachkit_toml(tmp_path: Path):
    (tmp_path / "teachkit.toml").write_text("[crafter.score]\nhard_weight = 10.0\nsurvival_weight = 0.0\n")
    settings = load_settings()
    episode = make_episode(actions=["do"] * 100, achievements_at={5: ["collect_diamond"]})
    score = EpisodeScorer(settings.crafter.score).score(episode)
    assert score.breakdown["achievement_points"] == 10.0
    assert score.total == pytest.approx(10.0 + 1.0)


def test_a_filtered_episode_keeps_the_loop_count_measured_before_its_steps_were_removed():
    scorer = EpisodeScorer(ScoreSettings())
    episode = make_episode(actions=["noop"] * 20, places=[4] * 20)
    full = scorer.score(episode)
    assert full.breakdown["loop_steps"] == 18
    episode.score = full
    episode.steps = episode.steps[::3]
    again = scorer.score(episode)
    assert again == full
