"""`teachkit crafter dagger`: on-policy distillation (DAgger, Ross, Gordon and Bagnell 2011) of a local student.

Round 0 is the teacher's own play (behaviour cloning; `teacher_first`). Each later round the student trained in
the round before plays (the teacher's action is played instead with probability beta, decaying each round), the
teacher labels every state reached (`dagger_play.LabellingPlayer`), and the new episodes join the aggregate. Every
round then trains the student afresh from the base model on ALL the labels so far and evaluates it on held-out
seeds. From the base rather than continued: DAgger's guarantee is for the policy fit to the aggregate, each round's
student is then a function of its data alone (earlier rounds' data is not weighted up by being trained on again and
again, and a bad round does not carry over), and it is exactly what `crafter finetune` makes, so `crafter eval`
loads it like any student. The price is that training time grows with the aggregate.

    DIR/dagger.json                      the run's settings (a --resume must match them)
    DIR/round-K/episodes.jsonl           the round's episodes: steps labelled by the teacher (+ manifest)
    DIR/round-K/kept.jsonl, train.jsonl  all rounds' episodes so far, filtered, formatted (messages) for training
    DIR/round-K/student/                 the student trained on them (LoRA adapter, record, card)
    DIR/round-K/eval.jsonl               its episodes on the held-out seeds
    DIR/round-K/round.json               written last: the round is finished (--resume skips it)
    DIR/baselines/{random,teacher,base}.jsonl   the same held-out seeds played by those policies
    DIR/student/                         a copy of the last finished round's student
    DIR/summary.json, DIR/curve.png      Crafter score and achievements per round beside the baselines

The play and labelling are in `dagger_play.py`, the baselines, intervals, summary and curve in `dagger_report.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.dagger_play import LabellingPlayer
from teachkit.crafter.dagger_report import eval_stats, evaluate_baselines, publish_student, write_summary
from teachkit.crafter.evaluate import eval_seeds, open_policy, play_policy
from teachkit.crafter.filter import filter_episodes
from teachkit.crafter.finetune import FinetuneRequest, run_finetune
from teachkit.crafter.play import PlayConfig, play_episodes
from teachkit.crafter.prompts import system_prompt
from teachkit.crafter.teachers import Teacher, open_teacher
from teachkit.crafter.tuning_data import format_examples
from teachkit.errors import InputError
from teachkit.jsonl import ResumableAppender, atomic_write, read_records, write_records
from teachkit.llm.spec import local_model_name
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, StudentPrompt
from teachkit.settings import FilterSettings, Settings

RUN_FILE = "dagger.json"
ROUND_FILE = "round.json"
# Settings a resumed run must share with the run it continues (rounds may grow).
FIXED = ("teacher", "student", "episodes", "max_steps", "seed", "observation", "teacher_first", "beta", "beta_decay",
         "epochs", "learning_rate", "batch_size", "with_thoughts", "add_system", "eval_episodes", "temperature")


@dataclass
class DaggerRequest:
    """The flags of one `teachkit crafter dagger` that are not settings."""

    out_dir: Path
    resume: bool = False
    max_cost: float | None = None


@dataclass
class DaggerRun:
    """Everything the rounds share: settings, where things go, the starting model and the held-out seeds."""

    settings: Settings
    out_dir: Path
    start_model: str
    prompt: StudentPrompt
    eval_seeds: list[int]
    max_cost: float | None
    output: Output

    @property
    def config(self) -> Any:
        return self.settings.crafter.dagger

    def round_dir(self, index: int) -> Path:
        return self.out_dir / f"round-{index}"

    def beta(self, index: int) -> float:
        """The chance the teacher acts in round `index`: 1 in a behaviour-cloning round 0, then decaying."""
        config = self.config
        if config.teacher_first and index == 0:
            return 1.0
        return config.beta * config.beta_decay ** (index - 1 if config.teacher_first else index)

    def seeds(self, index: int) -> list[int]:
        config = self.config
        return [config.seed + index * config.episodes + i for i in range(config.episodes)]

    def spent_usd(self) -> float:
        """What the teacher cost so far, read from the recorded episodes (a resumed run continues the budget)."""
        files = [*self.out_dir.glob("round-*/episodes.jsonl"), self.out_dir / "baselines" / "teacher.jsonl"]
        return sum(episode.totals.cost_usd for path in files if path.is_file()
                   for episode in read_records(path, Episode))

    def open_teacher(self) -> Teacher | None:
        """The labelling teacher with what is left of --max-cost; None when it is spent."""
        if self.max_cost is None:
            return open_teacher(self.config.teacher, self.settings)
        left = self.max_cost - self.spent_usd()
        return open_teacher(self.config.teacher, self.settings, max_cost=left) if left > 0 else None


def run_dagger(settings: Settings, request: DaggerRequest,
               output: Output | None = None) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Play, label, aggregate, train and evaluate round after round; returns the summary and its tables."""
    output = output or Output()
    run = prepare(settings, request, output)
    config = run.config
    baselines = evaluate_baselines(run)
    rounds: list[dict[str, Any]] = []
    stopped = None
    published = False
    for index in range(config.rounds):
        done = run.round_dir(index) / ROUND_FILE
        if done.is_file():
            rounds.append(json.loads(done.read_text(encoding="utf-8")))
            output.info(f"round {index}: finished earlier, skipped ({done})")
            published = False
            continue
        result = run_round(run, index, baselines.get("random"))
        if result is None:
            stopped = index
            break
        rounds.append(result)
        publish_student(run.round_dir(index) / "student", run.out_dir / "student")
        published = True
    if rounds and not published:  # a run killed between a round's end and the copy, or fewer rounds asked for
        publish_student(Path(rounds[-1]["student"]), run.out_dir / "student")
    summary, tables = write_summary(run, rounds, baselines)
    if stopped is not None:
        output.warn(f"stopped at --max-cost {run.max_cost:g} USD in round {stopped}; rerun with --resume and a "
                    "higher --max-cost to continue")
        summary["stopped_at_round"] = stopped
    return summary, tables


def prepare(settings: Settings, request: DaggerRequest, output: Output) -> DaggerRun:
    """Check the inputs, record (or check, on --resume) the run's settings, and find the starting model."""
    config = settings.crafter.dagger
    out_dir = Path(request.out_dir)
    student = local_model_name(config.student, where="--student")
    # The teacher is opened once here so an unknown one stops the run before anything is written.
    asyncio.run(open_teacher(config.teacher, settings).aclose())
    play_settings = settings.model_copy(deep=True)
    play_settings.crafter.rollout.observation = config.observation
    play_settings.crafter.rollout.actions_per_call = 1
    play_settings.crafter.eval.episodes = config.eval_episodes
    play_settings.crafter.eval.observation = config.observation
    play_settings.crafter.eval.temperature = config.temperature
    seeds = eval_seeds(play_settings)
    last_train_seed = config.seed + config.rounds * config.episodes - 1
    if config.seed <= seeds[-1] and seeds[0] <= last_train_seed:
        raise InputError(f"--seed {config.seed}: training seeds {config.seed}..{last_train_seed} overlap the held-out "
                         f"seeds {seeds[0]}..{seeds[-1]} (crafter.eval.seed); choose another --seed")
    record = {key: getattr(config, key) for key in FIXED}
    record.update(eval_seed=seeds[0], eval_max_steps=play_settings.crafter.eval.max_steps,
                  crafter=importlib.metadata.version("crafter"))
    run_file = out_dir / RUN_FILE
    if run_file.is_file():
        if not request.resume:
            raise InputError(f"{out_dir}: holds a dagger run already; add --resume to continue it, or give another "
                             "--out-dir")
        earlier = json.loads(run_file.read_text(encoding="utf-8"))["settings"]
        changed = [key for key in record if earlier.get(key) != record[key]]
        if changed:
            key = changed[0]
            raise InputError(f"{run_file}: the run was made with {key} = {earlier.get(key)!r}, now {record[key]!r}; "
                             "resume with the same settings (only --rounds may change), or give another --out-dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_file) as handle:
        json.dump({"settings": {**record, "rounds": config.rounds}, "started_at": now_iso()}, handle, indent=2)
        handle.write("\n")
    prompt = StudentPrompt(observation_format=config.observation, history=0, with_thoughts=config.with_thoughts,
                           system_prompt=system_prompt(config.observation) if config.add_system else None,
                           source_format="messages")
    start = start_model(student, out_dir, play_settings, output)
    return DaggerRun(play_settings, out_dir, start, prompt, seeds, request.max_cost, output)


def start_model(student: str, out_dir: Path, settings: Settings, output: Output) -> str:
    """What each round's LoRA is trained on: the model itself, or for a student folder holding a LoRA adapter, that
    student merged into its base once (DIR/start-model), so every round's adapter sits on real weights."""
    from teachkit.students.loading import is_adapter, load_student

    path = Path(student).expanduser()
    if not is_adapter(path):
        return student
    merged = path / "merged"
    if (merged / "config.json").is_file():
        return str(merged)
    target = out_dir / "start-model"
    if not (target / "config.json").is_file():
        output.info(f"{student}: a LoRA student; merging it into its base once, into {target}")
        loaded = load_student(str(path), settings, device="cpu")
        staging = out_dir / ".start-model.partial"
        shutil.rmtree(staging, ignore_errors=True)
        loaded.model.save_pretrained(staging)
        loaded.tokenizer.save_pretrained(staging)
        staging.rename(target)
    return str(target)


# --- one round ---------------------------------------------------------------------------------------------------


def run_round(run: DaggerRun, index: int, random_episodes: list[Episode] | None) -> dict[str, Any] | None:
    """Play and label, aggregate, train and evaluate round `index`; None when --max-cost stopped its play."""
    output, config = run.output, run.config
    folder = run.round_dir(index)
    beta = run.beta(index)
    student_plays = beta < 1.0
    kind = "behaviour cloning" if not student_plays and index == 0 else "dagger"
    output.info(f"\nround {index} ({index + 1} of {config.rounds}): {kind}, the teacher acts with probability {beta:g}")
    previous = run.round_dir(index - 1) / "student" if index > 0 else None
    student_spec = str(previous) if previous is not None else run.start_model
    counts = play_round(run, index, beta, student_spec if student_plays else None)
    if counts is None:
        return None

    inputs = [run.round_dir(i) / "episodes.jsonl" for i in range(index + 1)]
    data_settings = run.settings.model_copy(deep=True)
    data_settings.crafter.filter = FilterSettings()  # drop invalid labels and repeated (state, label) pairs only
    data_settings.crafter.format.target = "messages"
    data_settings.crafter.format.history = 0
    data_settings.crafter.format.with_thoughts = config.with_thoughts
    data_settings.crafter.format.add_system = config.add_system
    data_settings.crafter.format.system = None
    data_settings.crafter.format.validation_fraction = 0.0
    data_settings.crafter.format.subset = None
    kept = filter_episodes(inputs, folder / "kept.jsonl", data_settings, output, overwrite=True)
    formatted = format_examples([folder / "kept.jsonl"], folder / "train.jsonl", data_settings, output, overwrite=True)
    examples = formatted.train.examples
    if examples == 0:
        raise InputError(f"round {index}: no training examples left after filtering {', '.join(map(str, inputs))}")

    train_settings = data_settings.model_copy(deep=True)
    finetune = train_settings.crafter.finetune
    finetune.backend = "local"
    finetune.local_model = run.start_model
    finetune.output_dir = folder / "student"
    finetune.epochs = config.epochs
    finetune.learning_rate = config.learning_rate
    finetune.batch_size = config.batch_size
    finetune.max_steps = -1
    finetune.merge = False
    output.info(f"round {index}: training {run.start_model} on {examples:,} examples from {index + 1} round(s)")
    trained = run_finetune(FinetuneRequest(train=folder / "train.jsonl", overwrite=True), train_settings, output)

    policy = open_policy(str(folder / "student"), f"round {index}", run.settings, output=output)
    episodes = play_policy(policy, run.eval_seeds, run.settings, output)
    write_records(folder / "eval.jsonl", episodes)
    result = {
        "round": index,
        "kind": kind,
        "beta": beta,
        "seeds": run.seeds(index),
        "played_by": "teacher" if not student_plays else f"{student_spec} (teacher with probability {beta:g})",
        **counts,
        "kept_steps": kept.steps_kept,
        "examples": examples,
        "train_loss": trained.summary.get("train_loss"),
        "train_runtime_s": trained.summary.get("runtime_s"),
        "student": str(folder / "student"),
        "eval_episodes_file": str(folder / "eval.jsonl"),
        **eval_stats(episodes, random_episodes, run.settings.crafter.eval.bootstrap_samples),
    }
    with atomic_write(folder / ROUND_FILE) as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    return result


def play_round(run: DaggerRun, index: int, beta: float, student_spec: str | None) -> dict[str, Any] | None:
    """Play the round's seeds into DIR/round-K/episodes.jsonl (resumable); returns the play counts, or None when
    --max-cost stopped it."""
    config, output = run.config, run.output
    folder = run.round_dir(index)
    out = folder / "episodes.jsonl"
    teacher = run.open_teacher()
    if teacher is None:
        return None
    student = None
    if student_spec is not None:
        student = open_policy(student_spec, "student", run.settings, like=run.prompt, output=output).player
    player = LabellingPlayer(teacher, student, beta=beta, round_index=index)
    seeds = run.seeds(index)
    hashed = hashlib.sha256(json.dumps({"dagger_round": index, "teacher": teacher.spec, "student": student_spec,
                                        "beta": beta, "max_steps": config.max_steps, "observation": config.observation},
                                       sort_keys=True).encode()).hexdigest()[:12]
    play = PlayConfig(max_steps=config.max_steps, observation_format=config.observation, history=run.settings.crafter
                      .rollout.history, actions_per_call=1, settings_hash=hashed)
    client = getattr(teacher, "client", None)
    started_at = now_iso()

    def make_id(seed: int) -> str:
        return f"round-{index}-seed-{seed}"

    with ResumableAppender(out, Episode, resume=True, warn=output.warn) as appender:
        todo = [seed for seed in seeds if make_id(seed) not in appender.done_ids]
        if len(todo) < len(seeds):
            output.info(f"{out}: {len(seeds) - len(todo)} episodes already there; playing the other {len(todo)}")
        with output.progress(f"round {index} play", total=len(todo), unit="episodes") as bar:
            async def play_all() -> None:
                try:
                    async for episode in play_episodes(
                        todo, player, play, concurrency=config.concurrency, make_id=make_id,
                        should_stop=(lambda: client.budget_exceeded) if client is not None else (lambda: False),
                    ):
                        appender.append(player.finish(episode))
                        bar.advance(1, achievements=len(episode.totals.achievements), **agreement(player))
                finally:
                    await player.aclose()

            asyncio.run(play_all())
        finished = len(appender.done_ids & {make_id(seed) for seed in seeds})
    write_manifest(out, settings=run.settings, started_at=started_at,
                   counts={"episodes": finished}, extra={"dagger_round": index, "beta": beta,
                                                        "teacher": teacher.spec, "student": student_spec})
    if finished < len(seeds):
        return None
    return player.counts.as_dict()


def agreement(player: LabellingPlayer) -> dict[str, Any]:
    value = player.counts.as_dict()["student_agreement_%"]
    return {"agrees_%": value} if value is not None else {}
