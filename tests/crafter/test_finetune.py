"""`crafter finetune --backend local`: TRL SFT + LoRA on the tiny model, and what the run leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.console import Output
from teachkit.crafter.finetune import (
    FinetuneRequest,
    observation_format_of,
    prepare_local,
    read_examples,
    student_prompt,
)
from teachkit.records import TrainedModel
from teachkit.settings import load_settings
from teachkit.sft_data.formats import Example, render
from teachkit.sft_data.validation import check_training_files
from teachkit.students.artifacts import TRAINING_RECORD
from teachkit.students.precision import cpu_has_native_bf16

COMPACT = "t{i} day H9 F9 D9 E9\ninv: wood {i}\nface W: tree\nnear: tree W1"


def write_examples(path: Path, target: str, count: int = 8, *, system: str | None = None, history: int = 0) -> Path:
    lines = []
    for index in range(count):
        turns: list[tuple[str, str]] = []
        for earlier in range(history):
            turns += [("user", COMPACT.format(i=index + earlier)), ("model", "Action: move_left")]
        turns += [("user", COMPACT.format(i=index)), ("model", "Action: do")]
        lines.append(json.dumps(render(Example(system=system, turns=turns), target)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_local_finetune_changes_the_adapter_and_not_the_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    train = write_examples(tmp_path / "train.jsonl", "messages")
    (tmp_path / "train.jsonl.manifest.json").write_text(json.dumps({"inputs": []}))
    result = CliRunner().invoke(app, [
        "--json", "crafter", "finetune", str(train), "--backend", "local", "--model", str(tiny_model_dir),
        "--output-dir", str(tmp_path / "student"), "--max-steps", "3", "--batch-size", "4", "--learning-rate",
        "0.05", "--lora-r", "4", "--merge",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    autocast = " + bf16 autocast" if cpu_has_native_bf16() else ""  # crafter.finetune.cpu_bf16_autocast: on
    assert summary["steps"] == 3 and summary["device"] == "cpu" and summary["dtype"] == "float32" + autocast
    student = tmp_path / "student"

    adapter = load_file(student / "adapter_model.safetensors")
    lora_b = {name: tensor for name, tensor in adapter.items() if "lora_B" in name}
    assert lora_b and all(tensor.abs().sum() > 0 for tensor in lora_b.values())  # B starts at zero: it learned

    # The merged model differs from the base by exactly the LoRA update; every other weight is the base's.
    base = load_file(tiny_model_dir / "model.safetensors")
    merged = load_file(student / "merged" / "model.safetensors")
    config = json.loads((student / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    adapted = 0
    for name, weight in base.items():
        prefix = "base_model.model." + name.removesuffix(".weight")
        a, b = adapter.get(prefix + ".lora_A.weight"), adapter.get(prefix + ".lora_B.weight")
        if a is None:
            assert torch.equal(merged[name], weight), name
        else:
            adapted += 1
            assert torch.allclose(merged[name] - weight, scale * b @ a, atol=1e-6), name
    assert adapted == 14  # q, k, v, o, gate, up, down in each of the 2 layers

    record = TrainedModel.model_validate_json((student / TRAINING_RECORD).read_text())
    assert record.data[0].path == str(train.resolve()) and record.data[0].examples == 8
    assert record.data[0].manifest == str(train.resolve()) + ".manifest.json"
    assert record.prompt is not None and record.prompt.observation_format == "compact"
    card = (student / "README.md").read_text()
    assert str(train.resolve()) in card and "train.jsonl.manifest.json" in card
    assert (student / "tokenizer.json").is_file() and (student / "merged" / "config.json").is_file()

    again = CliRunner().invoke(app, ["crafter", "finetune", str(train), "--model", str(tiny_model_dir),
                                     "--output-dir", str(student), "--max-steps", "1"])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


@pytest.mark.parametrize("target", ["vertex", "prompt-completion"])
def test_loss_falls_on_the_model_turn_only(tiny_model_dir: Path, tmp_path: Path, target: str) -> None:
    train = write_examples(tmp_path / "train.jsonl", target, count=2, system="You play Crafter.", history=1)
    settings = load_settings(None, {"crafter.finetune.local_model": str(tiny_model_dir),
                                    "crafter.finetune.output_dir": str(tmp_path / "out")})
    reports = check_training_files(train, None, settings, Output())
    run = prepare_local(FinetuneRequest(train), reports, settings, Output())
    row = run.trainer.train_dataset[0]
    trained = [token for token, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    text = run.tokenizer.decode(trained)
    # Only the last reply is trained: not the system prompt, the observations or the earlier reply.
    assert text.startswith("Action: do<|im_end|>") and "move_left" not in text and "tree" not in text
    assert run.prompt.history == 1 and run.prompt.system_prompt == "You play Crafter."


def test_a_gemma2_student_trains_on_data_formatted_with_a_system_prompt(tiny_gemma2_dir: Path, tmp_path: Path) -> None:
    from tests.crafter.episode_factory import make_episode, write_episodes

    episodes = write_episodes(tmp_path / "episodes.jsonl", [make_episode(actions=["do", "move_left", "do"])])
    formatted = CliRunner().invoke(app, ["--json", "crafter", "format", str(episodes), "-o", str(tmp_path / "t.jsonl"),
                                         "--add-system", "--history", "1", "--tokenizer", str(tiny_gemma2_dir)])
    assert formatted.exit_code == 0, formatted.output
    result = CliRunner().invoke(app, [
        "--json", "crafter", "finetune", str(tmp_path / "t.jsonl"), "--backend", "local", "--model",
        str(tiny_gemma2_dir), "--output-dir", str(tmp_path / "student"), "--max-steps", "2", "--batch-size", "2",
        "--lora-r", "2", "--max-length", "4096",
    ])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 2
    record = TrainedModel.model_validate_json((tmp_path / "student" / TRAINING_RECORD).read_text())
    # Recorded unfolded, as the data has it: eval folds it for Gemma exactly as training did.
    assert record.prompt.system_prompt.startswith("You play Crafter") and record.prompt.history == 1

    settings = load_settings(None, {"crafter.finetune.local_model": str(tiny_gemma2_dir),
                                    "crafter.finetune.output_dir": str(tmp_path / "again"),
                                    "crafter.finetune.max_length": 4096})
    train = tmp_path / "t.jsonl"
    run = prepare_local(FinetuneRequest(train), check_training_files(train, None, settings, Output()),
                        settings, Output())
    assert len(run.trainer.train_dataset) == 3
    row = run.trainer.train_dataset[1]
    text = run.tokenizer.decode(row["input_ids"])
    assert text.startswith("<bos><start_of_turn>user\nYou play Crafter") and "<start_of_turn>system" not in text
    trained = [token for token, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    assert run.tokenizer.decode(trained).startswith("Action: move_left<end_of_turn>")


def padding_and_trained_text(tiny_model_dir: Path, train: Path, out: Path, grouped: bool) -> tuple[int, set[str]]:
    settings = load_settings(None, {"crafter.finetune.local_model": str(tiny_model_dir),
                                    "crafter.finetune.output_dir": str(out), "crafter.finetune.batch_size": 4,
                                    "crafter.finetune.group_by_length": grouped})
    reports = check_training_files(train, None, settings, Output())
    run = prepare_local(FinetuneRequest(train), reports, settings, Output())
    assert run.trainer.args.report_to == [] and not run.trainer.args.gradient_checkpointing
    padded, trained = 0, set()
    for batch in run.trainer.get_train_dataloader():
        padded += int((batch["attention_mask"] == 0).sum())
        for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
            trained.add(run.tokenizer.decode([int(t) for t, label in zip(ids, labels, strict=True) if label != -100]))
    return padded, trained


def test_length_grouped_batches_pad_less_and_still_train_on_the_completion_only(tiny_model_dir: Path,
                                                                                tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    lines = []
    for index in range(64):  # observations of four very different lengths
        observation = "near: " + "tree W1; " * (1 + 8 * (index % 4))
        lines.append(json.dumps(render(Example(system="You play Crafter.", turns=[
            ("user", observation), ("model", "Action: do")]), "messages")))
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    grouped, trained = padding_and_trained_text(tiny_model_dir, train, tmp_path / "a", grouped=True)
    shuffled, _ = padding_and_trained_text(tiny_model_dir, train, tmp_path / "b", grouped=False)
    assert grouped < shuffled / 2
    # The loss mask: the reply and its end of turn (TRL keeps the template's newline after it), no prompt, no pad.
    assert trained == {"Action: do<|im_end|>\n"}


def finetune_args(train: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["--json", "crafter", "finetune", str(train), "--backend", "local", "--model", str(model), "--output-dir",
            str(out), "--batch-size", "2", "--lora-r", "2", *extra]


def test_resume_continues_from_the_last_checkpoint(tiny_model_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from teachkit.students.progress import existing_checkpoints

    train = write_examples(tmp_path / "train.jsonl", "messages", count=8)
    out = tmp_path / "student"
    # A run killed after its step-2 checkpoint: the checkpoint is there, the final model is not.
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__SAVE_STEPS", "2")
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__LOGGING_STEPS", "1")
    first = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-steps", "2"))
    assert first.exit_code == 0, first.output
    for name in ("adapter_model.safetensors", "adapter_config.json", TRAINING_RECORD):
        (out / name).unlink()
    assert [path.name for path in existing_checkpoints(out)] == ["checkpoint-2"]

    again = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-steps", "4"))
    assert again.exit_code == 2 and "--resume" in again.stderr and "checkpoint-2" in again.stderr

    resumed = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-steps", "4", "--resume"))
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["steps"] == 4 and summary["resumed_from"] == str(out / "checkpoint-2")
    record = TrainedModel.model_validate_json((out / TRAINING_RECORD).read_text())
    # Only steps 3 and 4 were trained by the resumed run; steps 1 and 2 came from the checkpoint.
    assert [entry["step"] for entry in record.metrics["loss_history"] if "loss" in entry] == [3, 4]

    fresh = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-steps", "1", "--overwrite"))
    assert fresh.exit_code == 0, fresh.output
    assert "resumed_from" not in json.loads(fresh.stdout)
    assert [path.name for path in existing_checkpoints(out)] == ["checkpoint-1"]  # the old run's are gone


def test_max_minutes_stops_cleanly_and_saves(tiny_model_dir: Path, tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.jsonl", "messages", count=8)
    out = tmp_path / "student"
    # 0.0001 minutes: over after the first step, whatever the machine's speed.
    result = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-steps", "50",
                                                   "--max-minutes", "0.0001"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 1 and "stopped after" in result.stderr
    assert (out / "adapter_model.safetensors").is_file() and (out / TRAINING_RECORD).is_file()


def test_report_to_needs_an_installed_integration(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers.integrations.integration_utils import get_available_reporting_integrations

    train = write_examples(tmp_path / "train.jsonl", "messages", count=2)
    unknown = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, tmp_path / "a", "--report-to", "nope"))
    assert unknown.exit_code == 2 and "--report-to nope" in unknown.stderr and "tensorboard" in unknown.stderr
    if "tensorboard" not in get_available_reporting_integrations():
        missing = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, tmp_path / "b", "--report-to",
                                                        "tensorboard"))
        assert missing.exit_code == 2 and "pip install tensorboard" in missing.stderr
    assert load_settings().crafter.finetune.report_to == "none"


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="the CPU has no bf16 instructions")
def test_cpu_bf16_autocast_still_lowers_the_loss(tiny_model_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__CPU_BF16_AUTOCAST", "true")
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__LOGGING_STEPS", "1")
    train = write_examples(tmp_path / "train.jsonl", "messages", count=8)
    result = CliRunner().invoke(app, [
        "--json", "crafter", "finetune", str(train), "--backend", "local", "--model", str(tiny_model_dir),
        "--output-dir", str(tmp_path / "student"), "--max-steps", "8", "--batch-size", "4", "--learning-rate",
        "0.05", "--lora-r", "4",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dtype"] == "float32 + bf16 autocast"
    assert summary["last_logged_loss"] < summary["first_logged_loss"]


def test_student_prompt_reads_the_observation_format_from_the_episodes(tmp_path: Path) -> None:
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text(json.dumps({"id": "seed-0", "observation_format": "full"}) + "\n")
    train = write_examples(tmp_path / "train.jsonl", "vertex")
    examples = read_examples(train, "vertex")
    assert observation_format_of(train, examples) == "compact"  # no manifest: told from the text
    (tmp_path / "train.jsonl.manifest.json").write_text(json.dumps({"inputs": [{"path": str(episodes)}]}))
    assert observation_format_of(train, examples) == "full"  # the episodes' own record wins
    prompt = student_prompt(train, examples, "vertex")
    assert not prompt.with_thoughts and prompt.history == 0 and prompt.system_prompt is None


def test_local_dry_run_loads_nothing(tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.jsonl", "messages", count=10)
    result = CliRunner().invoke(app, ["--json", "crafter", "finetune", str(train), "--dry-run", "--batch-size", "4",
                                      "--epochs", "2", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 6 and summary["train_examples"] == 10
    assert not (tmp_path / "out").exists()


def test_bad_training_file_exits_2_with_the_line(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    result = CliRunner().invoke(app, ["crafter", "finetune", str(train)])
    assert result.exit_code == 2
    assert f"{train}:1:" in result.stderr and "more" in result.stderr


def test_the_lean_loss_equals_trls_own_loss_on_the_same_batch(tiny_model_dir: Path, tmp_path: Path) -> None:
    # The trainer skips TRL's fused LM head (its entropy and accuracy logs cost a third of a step on a CPU); the loss
    # it trains on must stay TRL's: the mean over reply tokens.
    import torch
    from trl import SFTTrainer

    train = write_examples(tmp_path / "train.jsonl", "messages", count=8)
    settings = load_settings(None, {"crafter.finetune.local_model": str(tiny_model_dir),
                                    "crafter.finetune.output_dir": str(tmp_path / "out"),
                                    "crafter.finetune.batch_size": 4})
    run = prepare_local(FinetuneRequest(train), check_training_files(train, None, settings, Output()), settings,
                        Output())
    assert type(run.trainer).compute_loss is not SFTTrainer.compute_loss
    batch = next(iter(run.trainer.get_train_dataloader()))
    assert (batch["labels"] == -100).any() and (batch["labels"] != -100).any()
    items = int((batch["labels"][:, 1:] != -100).sum())
    with torch.no_grad():
        lean = run.trainer.compute_loss(run.trainer.model, dict(batch), num_items_in_batch=items)
        trl = SFTTrainer.compute_loss(run.trainer, run.trainer.model, dict(batch), num_items_in_batch=items)
    assert float(lean) == pytest.approx(float(trl), rel=1e-4)


def test_prompts_longer_than_max_length_are_one_line_and_exit_2(tiny_model_dir: Path, tmp_path: Path) -> None:
    # TRL keeps the first --max-length tokens: a prompt that long leaves no reply to train on.
    train = write_examples(tmp_path / "train.jsonl", "messages", count=4, history=3)
    out = tmp_path / "student"
    result = CliRunner().invoke(app, finetune_args(train, tiny_model_dir, out, "--max-length", "16"))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--max-length 16" in lines[0] and str(train) in lines[0]
    assert not (out / TRAINING_RECORD).exists()
