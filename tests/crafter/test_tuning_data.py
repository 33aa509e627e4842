from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.prompts import system_prompt
from teachkit.sft_data import limits
from teachkit.sft_data.formats import Example
from teachkit.sft_data.tokens import TokenCounter, estimate_tokens
from tests.crafter.episode_factory import make_episode, varied_episodes, write_episodes

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["--json", "crafter", "format", *args])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def texts(record: dict) -> list[tuple[str, str]]:
    return [(turn["role"], turn["parts"][0]["text"]) for turn in record["contents"]]


def test_one_vertex_example_per_decision_with_the_observation_and_the_action(tmp_path: Path):
    episode = make_episode(actions=["move_left", "do", "place_table"])
    source = write_episodes(tmp_path / "episodes.jsonl", [episode])
    result = run(str(source), "--out", "train.jsonl")
    assert result.exit_code == 0, result.output
    records = lines(tmp_path / "train.jsonl")
    assert len(records) == 3
    assert texts(records[2]) == [("user", episode.steps[2].observation), ("model", "Action: place_table")]
    assert "systemInstruction" not in records[0]
    summary = json.loads(result.stdout)
    assert summary["train_examples"] == 3
    assert summary["train_episodes"] == 1


def test_thoughts_history_and_plans(tmp_path: Path):
    episode = make_episode(actions=["move_left", "do", "do", "move_up", "do", "noop"], plan_index={2: 1})
    del episode.steps[4]  # a step removed by filter: history must not reach across the gap
    source = write_episodes(tmp_path / "episodes.jsonl", [episode])
    result = run(str(source), "--out", "train.jsonl", "--with-thoughts", "--history", "2")
    assert result.exit_code == 0, result.output
    records = lines(tmp_path / "train.jsonl")
    steps = {step.t: step for step in episode.steps}
    # Decisions: t0, t1 (+ planned t2), t3, t5.
    assert len(records) == 4
    assert texts(records[1])[-1] == ("model", f"Thought: {steps[1].thought}\nActions: do, do")
    assert texts(records[2]) == [
        ("user", steps[0].observation), ("model", f"Thought: {steps[0].thought}\nAction: move_left"),
        ("user", steps[1].observation), ("model", f"Thought: {steps[1].thought}\nActions: do, do"),
        ("user", steps[3].observation), ("model", f"Thought: {steps[3].thought}\nAction: move_up"),
    ]
    assert texts(records[3]) == [("user", steps[5].observation), ("model", f"Thought: {steps[5].thought}\nAction: noop")]


def test_system_prompt_from_text_file_or_the_observation_formats_default(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", [make_episode(observation_format="compact")])
    (tmp_path / "system.txt").write_text("You are a careful Crafter player.\n")
    assert run(str(source), "-o", "a.jsonl", "--system", "Play well.").exit_code == 0
    assert lines(tmp_path / "a.jsonl")[0]["systemInstruction"]["parts"][0]["text"] == "Play well."
    assert run(str(source), "-o", "b.jsonl", "-t", "messages", "--system", "@system.txt").exit_code == 0
    assert lines(tmp_path / "b.jsonl")[0]["messages"][0] == {
        "role": "system", "content": "You are a careful Crafter player."}
    assert run(str(source), "-o", "c.jsonl", "-t", "messages", "--add-system").exit_code == 0
    assert lines(tmp_path / "c.jsonl")[0]["messages"][0]["content"] == system_prompt("compact")
    missing = run(str(source), "-o", "d.jsonl", "--system", "@nowhere.txt")
    assert missing.exit_code == 2
    assert "nowhere.txt not found" in missing.output


def test_validation_split_is_by_episode_and_reproducible(tmp_path: Path):
    episodes = varied_episodes(10, steps=4)
    source = write_episodes(tmp_path / "episodes.jsonl", episodes)
    result = run(str(source), "-o", "train.jsonl", "--validation-fraction", "0.3", "--seed", "7")
    assert result.exit_code == 0, result.output
    train, validation = lines(tmp_path / "train.jsonl"), lines(tmp_path / "train.validation.jsonl")
    owner = {step.observation: episode.id for episode in episodes for step in episode.steps}
    train_episodes = {owner[texts(r)[0][1]] for r in train}
    validation_episodes = {owner[texts(r)[0][1]] for r in validation}
    assert len(validation_episodes) == 3 and len(train_episodes) == 7
    assert not train_episodes & validation_episodes
    assert len(train) == 28 and len(validation) == 12
    summary = json.loads(result.stdout)
    assert (summary["validation_episodes"], summary["validation_examples"]) == (3, 12)
    assert (tmp_path / "train.validation.jsonl.manifest.json").exists()

    again = run(str(source), "-o", "again.jsonl", "--validation-fraction", "0.3", "--seed", "7",
                "--validation-file", "again-val.jsonl")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again-val.jsonl").read_bytes() == (tmp_path / "train.validation.jsonl").read_bytes()
    other = run(str(source), "-o", "other.jsonl", "--validation-fraction", "0.3", "--seed", "8")
    assert other.exit_code == 0
    assert (tmp_path / "other.validation.jsonl").read_bytes() != (tmp_path / "train.validation.jsonl").read_bytes()


def test_subset_is_a_reproducible_sample_in_input_order(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(5, steps=8))
    assert run(str(source), "-o", "all.jsonl", "-t", "messages").exit_code == 0
    result = run(str(source), "-o", "sub.jsonl", "-t", "messages", "--subset", "10", "--seed", "3")
    assert result.exit_code == 0, result.output
    full = (tmp_path / "all.jsonl").read_text().splitlines()
    subset = (tmp_path / "sub.jsonl").read_text().splitlines()
    assert len(subset) == 10
    positions = [full.index(line) for line in subset]
    assert positions == sorted(positions)
    assert json.loads(result.stdout)["left_out_by_subset"] == 30
    assert run(str(source), "-o", "sub2.jsonl", "-t", "messages", "--subset", "10", "--seed", "3").exit_code == 0
    assert (tmp_path / "sub2.jsonl").read_text() == (tmp_path / "sub.jsonl").read_text()
    assert run(str(source), "-o", "sub3.jsonl", "-t", "messages", "--subset", "10", "--seed", "4").exit_code == 0
    assert (tmp_path / "sub3.jsonl").read_text() != (tmp_path / "sub.jsonl").read_text()


def test_converting_between_targets_keeps_every_turn(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(2, steps=4))
    common = ["--with-thoughts", "--history", "1", "--system", "Play."]
    assert run(str(source), "-o", "vertex.jsonl", *common).exit_code == 0
    assert run("vertex.jsonl", "-o", "messages.jsonl", "-t", "messages").exit_code == 0
    assert run("messages.jsonl", "-o", "pc.jsonl", "-t", "prompt-completion").exit_code == 0
    assert run(str(source), "-o", "pc-direct.jsonl", "-t", "prompt-completion", *common).exit_code == 0
    assert (tmp_path / "pc.jsonl").read_text() == (tmp_path / "pc-direct.jsonl").read_text()
    back = run("pc.jsonl", "-o", "vertex-again.jsonl", "-t", "vertex")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["input"].endswith("(prompt-completion)")
    assert (tmp_path / "vertex-again.jsonl").read_text() == (tmp_path / "vertex.jsonl").read_text()

    split = run("vertex.jsonl", "-o", "x.jsonl", "-t", "messages", "--validation-fraction", "0.5")
    assert split.exit_code == 2
    assert "splits by episode" in split.output


def test_token_estimate_and_tuning_cost_in_summary_and_manifest(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(3, steps=4))
    result = run(str(source), "-o", "train.jsonl", "--add-system")
    assert result.exit_code == 0, result.output
    expected = 0
    for record in lines(tmp_path / "train.jsonl"):
        turns = [*texts(record), ("system", record["systemInstruction"]["parts"][0]["text"])]
        expected += sum(math.ceil(len(text) / 3) + 4 for _, text in turns)
    summary = json.loads(result.stdout)
    assert summary["train_tokens"] == expected
    assert summary["estimated_tuning_cost_usd"] == round(expected * 3 * 5.0 / 1e6, 4)
    assert summary["tokens_counted_by"].startswith("estimate")
    manifest = json.loads((tmp_path / "train.jsonl.manifest.json").read_text())
    assert manifest["tokens"]["train"]["tokens"] == expected
    assert manifest["estimated_tuning_cost_usd"] == pytest.approx(expected * 3 * 5.0 / 1e6)
    assert manifest["format"]["target"] == "vertex"
    assert manifest["format"]["system_prompts"] == [system_prompt("full")]
    assert manifest["format"]["observation_formats"] == ["full"]
    assert "estimate" in manifest["cost_estimate"]


def test_a_real_tokenizer_counts_the_chat_template(tiny_model_dir: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    source = write_episodes(tmp_path / "episodes.jsonl", [make_episode(actions=["do", "move_left"])])
    result = run(str(source), "-o", "train.jsonl", "-t", "messages", "--tokenizer", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = sum(
        len(tokenizer(tokenizer.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)
            ["input_ids"])
        for r in lines(tmp_path / "train.jsonl")
    )
    summary = json.loads(result.stdout)
    assert summary["train_tokens"] == expected
    assert summary["tokens_counted_by"] == f"tokenizer {tiny_model_dir}"
    example = Example(None, [("user", "a" * 40), ("model", "Action: do")])
    assert TokenCounter().count([example]) == [estimate_tokens(example)] == [14 + 4 + 4 + 4]


def test_a_gemma2_tokenizer_counts_the_system_prompt_folded_into_the_first_user_turn(
    tiny_gemma2_dir: Path, tmp_path: Path
):
    from transformers import AutoTokenizer

    source = write_episodes(tmp_path / "episodes.jsonl", [make_episode(actions=["do", "move_left"])])
    result = run(str(source), "-o", "train.jsonl", "--add-system", "--history", "1", "--tokenizer",
                 str(tiny_gemma2_dir))
    assert result.exit_code == 0, result.output
    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma2_dir)
    expected = 0
    for record in lines(tmp_path / "train.jsonl"):
        turns = texts(record)
        system = record["systemInstruction"]["parts"][0]["text"]
        # As the trainer shows it to Gemma: the system prompt opens the first user turn.
        messages = [{"role": "user" if role == "user" else "assistant", "content": text} for role, text in turns]
        messages[0]["content"] = f"{system}\n\n{messages[0]['content']}"
        expected += len(tokenizer(tokenizer.apply_chat_template(messages, tokenize=False),
                                  add_special_tokens=False)["input_ids"])
    assert json.loads(result.stdout)["train_tokens"] == expected
    validated = runner.invoke(app, ["--json", "crafter", "format", str(tmp_path / "train.jsonl"), "--validate",
                                    "--tokenizer", str(tiny_gemma2_dir)])
    assert validated.exit_code == 0, validated.output


def test_examples_over_the_token_limit_are_left_out(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", [make_episode(actions=["do"] * 3)])
    result = run(str(source), "-o", "train.jsonl", "--max-tokens-per-example", "50")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["left_out_too_long"] == 3
    assert (tmp_path / "train.jsonl").read_text() == ""


def test_validate_lists_every_problem_with_its_line_and_exits_2(tmp_path: Path):
    good = {"contents": [{"role": "user", "parts": [{"text": "obs"}]}, {"role": "model", "parts": [{"text": "Action: do"}]}]}
    bad_role = {"contents": [{"role": "user", "parts": [{"text": "obs"}]}, {"role": "assistant", "parts": [{"text": "x"}]}]}
    empty = {"contents": [{"role": "user", "parts": [{"text": ""}]}, {"role": "model", "parts": [{"text": "x"}]}]}
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join([json.dumps(good), json.dumps(bad_role), json.dumps(good), json.dumps(empty),
                               json.dumps(good)[:30]]))
    result = runner.invoke(app, ["crafter", "format", str(path), "--validate"])
    assert result.exit_code == 2
    assert f"{path}:2: contents[1].role: 'assistant' is not user or model" in result.output
    assert f"{path}:4: contents[0].parts[0].text: empty" in result.output
    assert f"{path}:5: not valid JSON" in result.output
    assert "3 problem(s)" in result.output
    assert path.read_text().startswith(json.dumps(good))  # never rewritten

    path.write_text(json.dumps(good) + "\n")
    ok = runner.invoke(app, ["--json", "crafter", "format", str(path), "--validate"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["problems"] == 0
    too_long = runner.invoke(app, ["crafter", "format", str(path), "--validate", "--max-tokens-per-example", "5"])
    assert too_long.exit_code == 2
    assert f"{path}:1: 13 tokens; the limit is 5 per example" in too_long.output
    wrong = runner.invoke(app, ["crafter", "format", str(path), "--validate", "--target", "messages"])
    assert "expected a messages example, found a vertex example" in wrong.output


def test_validate_checks_the_vertex_validation_set_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(limits, "VERTEX_MAX_VALIDATION_EXAMPLES", 3)
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(4, steps=4))
    result = run(str(source), "-o", "train.jsonl", "--validation-fraction", "0.25")
    assert result.exit_code == 2
    assert "4 validation examples; Vertex AI takes at most 3: lower --validation-fraction" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.jsonl"]
    assert run(str(source), "-o", "train.jsonl", "-t", "messages", "--validation-fraction", "0.25").exit_code == 0
    assert run("train.jsonl", "-o", "vertex.jsonl").exit_code == 0
    assert run("train.validation.jsonl", "-o", "vertex-val.jsonl").exit_code == 0
    checked = runner.invoke(app, ["crafter", "format", "vertex.jsonl", "--validate", "--validation-file",
                                  "vertex-val.jsonl"])
    assert checked.exit_code == 2
    assert "vertex-val.jsonl: 4 validation examples; Vertex AI takes at most 3" in checked.output


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = [e.model_dump_json() for e in varied_episodes(3, steps=4)]
    other_version = json.loads(good[1])
    other_version["schema_version"] = 2
    missing = json.loads(good[2])
    del missing["steps"][0]["observation"]
    cases = {
        "truncated": ("\n".join(good[:2]) + "\n" + good[2][:300], ":3: truncated last line"),
        "schema_version": (f"{good[0]}\n{json.dumps(other_version)}\n", ":2: schema_version: "),
        "missing_field": (f"{good[0]}\n{good[1]}\n{json.dumps(missing)}\n", ":3: steps.0.observation: missing field"),
        "not_jsonl": ("<html><body>episodes</body></html>\n", ":1: not valid JSON"),
    }
    paths = {}
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(text)
        paths[name] = (path, message)
    return paths


@pytest.mark.parametrize("case", ["truncated", "schema_version", "missing_field", "not_jsonl"])
def test_bad_input_names_file_and_line_exits_2_and_leaves_no_output(tmp_path: Path, case: str):
    path, message = bad_inputs(tmp_path)[case]
    before = set(tmp_path.iterdir())
    result = run(str(path), "--out", "train.jsonl", "--validation-fraction", "0.3")
    assert result.exit_code == 2, result.output
    assert f"{path}{message}" in result.output.replace("\n", "")
    assert set(tmp_path.iterdir()) == before


@pytest.mark.slow
def test_outputs_load_with_datasets_and_train_one_sft_step(tiny_model_dir: Path, tmp_path: Path):
    import torch
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(2, steps=4))
    for target in ("messages", "prompt-completion", "vertex"):
        result = run(str(source), "-o", f"{target}.jsonl", "-t", target, "--with-thoughts", "--history", "1")
        assert result.exit_code == 0, result.output
        dataset = load_dataset("json", data_files=str(tmp_path / f"{target}.jsonl"), split="train")
        assert len(dataset) == 8
    for target in ("messages", "prompt-completion"):
        dataset = load_dataset("json", data_files=str(tmp_path / f"{target}.jsonl"), split="train")
        args = SFTConfig(
            output_dir=str(tmp_path / f"sft-{target}"), max_steps=1, max_length=2048, per_device_train_batch_size=2,
            report_to="none", bf16=False, fp16=False, save_strategy="no", use_cpu=True, logging_steps=1,
            dataloader_num_workers=0,
        )
        trainer = SFTTrainer(model=str(tiny_model_dir), args=args, train_dataset=dataset)
        before = [p.detach().clone() for p in trainer.model.parameters()]
        trainer.train()
        assert trainer.state.global_step == 1
        assert math.isfinite(trainer.state.log_history[-1]["train_loss"])
        assert any(not torch.equal(a, b.detach()) for a, b in zip(before, trainer.model.parameters(), strict=True))
