"""The episode score that `crafter filter` ranks trajectories by, stored with its breakdown in `Episode.score`.

    total = achievement_points + efficiency + survival - invalid_penalty - loop_penalty

- achievement_points: the tier weight of each achievement unlocked (each counts once per episode).
- efficiency: efficiency_weight x achievements per 100 steps, dividing by at least `efficiency_min_steps` steps so
  that an episode cut short after one lucky achievement does not outrank a long productive one.
- survival: survival_weight if the player was alive at the end, else that weight x the fraction of max_steps lived.
- invalid_penalty: invalid_penalty x the invalid actions of the whole episode (from its totals).
- loop_penalty: loop_penalty x the steps spent in loops. A loop is `loop_length` or more consecutive steps with the
  same action after which the observation (step counter removed) did not change.

Scores are recomputed from the settings on every filter run, so changing a weight in teachkit.toml changes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crafter import constants

from teachkit.errors import ConfigError
from teachkit.records import Episode, EpisodeScore, Step
from teachkit.settings import ScoreSettings

ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)
TIERS: tuple[str, ...] = ("easy", "medium", "hard")


def achievement_tiers(settings: ScoreSettings) -> dict[str, str]:
    """Achievement -> tier name; every one of the 22 must be in exactly one tier."""
    tiers: dict[str, str] = {}
    for tier in TIERS:
        for name in getattr(settings, tier):
            if name not in ACHIEVEMENTS:
                raise ConfigError(
                    f"crafter.score.{tier}: unknown achievement {name!r}; the 22 are: {', '.join(ACHIEVEMENTS)}"
                )
            if name in tiers:
                raise ConfigError(f"crafter.score.{tier}: {name} is already in tier {tiers[name]}; give it one tier")
            tiers[name] = tier
    missing = [name for name in ACHIEVEMENTS if name not in tiers]
    if missing:
        raise ConfigError(f"crafter.score: {', '.join(missing)} in no tier; add each to easy, medium or hard")
    return tiers


class EpisodeScorer:
    """Scores episodes with one set of settings; `state_of` is shared with the near-duplicate filter."""

    def __init__(self, settings: ScoreSettings):
        self.settings = settings
        self.tiers = achievement_tiers(settings)
        self.weights = {tier: getattr(settings, f"{tier}_weight") for tier in TIERS}
        try:
            self.volatile = re.compile(settings.volatile)
        except re.error as error:
            raise ConfigError(f"crafter.score.volatile: not a valid regex ({error})") from None

    def state_of(self, observation: str) -> str:
        """The observation without what changes at every step, for comparing states."""
        return self.volatile.sub("", observation)

    def loop_steps(self, steps: Sequence[Step], states: Sequence[str]) -> int:
        """Steps spent in runs of >= loop_length same-action steps that each left the state unchanged.

        A step's effect is known from the next step's observation, so only steps followed by their successor
        (t + 1) in `steps` can be judged; a gap (steps removed by a filter) ends a run.
        """
        total = 0
        run = 0
        run_action = None
        for index in range(len(steps) - 1):
            step, after = steps[index], steps[index + 1]
            unchanged = after.t == step.t + 1 and states[index] == states[index + 1]
            if unchanged and step.action == run_action:
                run += 1
            else:
                if run >= self.settings.loop_length:
                    total += run
                run, run_action = (1, step.action) if unchanged else (0, None)
        if run >= self.settings.loop_length:
            total += run
        return total

    def score(self, episode: Episode, states: Sequence[str] | None = None) -> EpisodeScore:
        """The score of an episode; `states` are `state_of` each step's observation when the caller has them."""
        settings = self.settings
        steps = episode.steps
        totals = episode.totals
        if states is None:
            states = [self.state_of(step.observation) for step in steps]
        length = totals.steps or len(steps)
        if len(steps) < length and episode.score is not None and "loop_steps" in episode.score.breakdown:
            # Steps were removed by an earlier filter: loops can no longer be seen, keep the count measured then.
            loops = int(episode.score.breakdown["loop_steps"])
        else:
            loops = self.loop_steps(steps, states)
        unlocked = set(totals.achievements)
        for step in steps:
            unlocked.update(step.new_achievements)
        counts = dict.fromkeys(TIERS, 0)
        for name in unlocked:
            tier = self.tiers.get(name)
            if tier is not None:
                counts[tier] += 1
        points = sum(self.weights[tier] * counts[tier] for tier in TIERS)
        efficiency = settings.efficiency_weight * 100.0 * len(unlocked) / max(length, settings.efficiency_min_steps)
        alive = totals.death_cause is None
        survival = settings.survival_weight * (1.0 if alive else min(1.0, length / max(episode.max_steps, 1)))
        invalid = settings.invalid_penalty * totals.invalid_actions
        loop = settings.loop_penalty * loops
        total = points + efficiency + survival - invalid - loop
        breakdown = {
            "achievement_points": points,
            "efficiency": efficiency,
            "survival": survival,
            "invalid_penalty": -invalid,
            "loop_penalty": -loop,
            "achievements": float(len(unlocked)),
            **{tier: float(counts[tier]) for tier in TIERS},
            "steps": float(length),
            "invalid_actions": float(totals.invalid_actions),
            "loop_steps": float(loops),
        }
        return EpisodeScore(total=round(total, 6), breakdown={k: round(v, 6) for k, v in breakdown.items()})

