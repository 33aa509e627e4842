"""`teachkit sgd compile`: one sample per system turn, prompts as `build_prompt` renders them, and the options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.manifest import manifest_path
from teachkit.records import Sample
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.prompts import PromptParts, build_prompt

EXAMPLES = example_sgd_root()
runner = CliRunner()


def dialogues_of(root: Path, split: str) -> dict[str, dict]:
    return {
        dialogue["dialogue_id"]: dialogue
        for path in sorted((root / split).glob("dialogues_*.json"))
        for dialogue in json.loads(path.read_text())
    }


def reference_parts(dialogue: dict, index: int, task: str) -> PromptParts:
    """The prompt parts of system turn `index`, worked out plainly from the dialogue."""
    history = [
        {"role": "user" if turn["speaker"] == "USER" else "assistant", "content": turn["utterance"]}
        for turn in dialogue["turns"][:index]
    ]
    service = dialogue["turns"][index]["frames"][0]["service"]
    call, results = None, []
    for turn in dialogue["turns"][: index + 1]:
        for frame in turn["frames"]:
            if frame["service"] == service and "service_call" in frame:
                call, results = frame["service_call"], frame["service_results"]
    return PromptParts(task, history, call, results)


def compile_to_samples(tmp_path: Path, root: Path = EXAMPLES, **options) -> list[Sample]:
    out = tmp_path / "samples.jsonl"
    compile_samples(root, out, CompileOptions(**options), overwrite=True)
    return list(read_records(out, Sample))


@pytest.mark.parametrize(
    ("prompt_format", "tool_results", "max_context_turns"),
    [("messages", True, None), ("text", True, None), ("messages", False, 3), ("text", True, 4)],
)
def test_every_system_turn_becomes_a_sample_with_the_prompt_build_prompt_renders(
    tmp_path: Path, prompt_format: str, tool_results: bool, max_context_turns: int | None
) -> None:
    samples = compile_to_samples(tmp_path, splits=["train"], prompt_format=prompt_format, tool_results=tool_results,
                                 max_context_turns=max_context_turns, dedupe=False)
    dialogues = dialogues_of(EXAMPLES, "train")
    system_turns = sum(t["speaker"] == "SYSTEM" for d in dialogues.values() for t in d["turns"])
    assert len(samples) == system_turns
    assert len({s.id for s in samples}) == len(samples)
    for sample in samples:
        dialogue = dialogues[sample.dialogue_id]
        turn = dialogue["turns"][sample.turn_index]
        assert sample.id == f"train/{sample.dialogue_id}/{sample.turn_index}"
        assert turn["speaker"] == "SYSTEM" and sample.split == "train"
        assert sample.ground_truth == turn["utterance"]
        assert sample.services == [turn["frames"][0]["service"]]
        assert [(a.act, a.slot, a.values, a.canonical_values) for a in sample.system_actions] == [
            (a["act"], a["slot"], a["values"], a["canonical_values"]) for a in turn["frames"][0]["actions"]
        ]
        parts = reference_parts(dialogue, sample.turn_index, sample.task_description)
        assert (sample.service_call.model_dump() if sample.service_call else None) == parts.service_call
        assert sample.service_results == parts.service_results
        expected = build_prompt(parts, prompt_format=prompt_format, tool_results=tool_results,
                                max_context_turns=max_context_turns)
        got = sample.prompt if isinstance(sample.prompt, str) else [m.model_dump() for m in sample.prompt]
        assert got == expected, sample.id


def test_the_entities_a_reference_turn_quotes_are_in_its_prompt(tmp_path: Path) -> None:
    samples = compile_to_samples(tmp_path, splits=["train"])
    offers = [s for s in samples if s.service_call and any(a.act == "OFFER" for a in s.system_actions)]
    assert len(offers) > 50
    for sample in offers:
        system = sample.prompt[0].content
        for action in sample.system_actions:
            if action.act == "OFFER":
                assert all(value in system for value in action.canonical_values), (sample.id, action)
    assert "Current task: " in samples[0].task_description


def test_duplicates_are_removed_across_dialogues(tmp_path: Path) -> None:
    root = tmp_path / "sgd"
    shutil.copytree(EXAMPLES / "dev", root / "dev")
    path = root / "dev" / "dialogues_001.json"
    dialogues = json.loads(path.read_text())
    copy = json.loads(json.dumps(dialogues[0]))
    copy["dialogue_id"] = "99_00000"
    path.write_text(json.dumps([*dialogues, copy]))
    copied_turns = sum(t["speaker"] == "SYSTEM" for t in copy["turns"])
    kept = compile_to_samples(tmp_path, root, splits=["dev"], dedupe=False)
    deduped = compile_samples(root, tmp_path / "d.jsonl", CompileOptions(splits=["dev"]))
    assert deduped.duplicates >= copied_turns
    assert deduped.samples == len(kept) - deduped.duplicates
    assert "99_00000" not in {s.dialogue_id for s in read_records(tmp_path / "d.jsonl", Sample)}


def test_limit_sample_and_seed(tmp_path: Path) -> None:
    everything = compile_to_samples(tmp_path, splits=["train", "dev"])
    assert {s.split for s in everything} == {"train", "dev"}
    first = compile_to_samples(tmp_path, splits=["train", "dev"], limit=7)
    assert [s.id for s in first] == [s.id for s in everything[:7]]
    one = [s.id for s in compile_to_samples(tmp_path, splits=["train", "dev"], sample=40, seed=5)]
    again = [s.id for s in compile_to_samples(tmp_path, splits=["train", "dev"], sample=40, seed=5)]
    other = [s.id for s in compile_to_samples(tmp_path, splits=["train", "dev"], sample=40, seed=6)]
    assert one == again and one != other and len(one) == 40
    order = {s.id: n for n, s in enumerate(everything)}
    assert [order[i] for i in one] == sorted(order[i] for i in one)


def test_the_eval_split_holds_whole_dialogues(tmp_path: Path) -> None:
    out, eval_out = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    result = compile_samples(EXAMPLES, out, CompileOptions(splits=["train"], eval_fraction=0.25, seed=1),
                             eval_out=eval_out)
    train = list(read_records(out, Sample))
    held = list(read_records(eval_out, Sample))
    assert not {s.dialogue_id for s in train} & {s.dialogue_id for s in held}
    assert result.eval_dialogues == len({s.dialogue_id for s in held}) == 12
    assert result.samples == len(train) and result.eval_samples == len(held)
    again = compile_samples(EXAMPLES, tmp_path / "b.jsonl", CompileOptions(splits=["train"], eval_fraction=0.25,
                                                                          seed=1))
    assert again.eval_out == tmp_path / "b.eval.jsonl"
    assert {s.dialogue_id for s in read_records(again.eval_out, Sample)} == {s.dialogue_id for s in held}


def test_services_and_domains_keep_only_their_turns(tmp_path: Path) -> None:
    weather = compile_to_samples(tmp_path, splits=["train"], services=["Weather_4"])
    assert weather and all(s.services == ["Weather_4"] for s in weather)
    food = compile_to_samples(tmp_path, splits=["train"], domains=["restaurants", "Dentists"])
    assert {s.services[0] for s in food} == {"Restaurants_7", "Dentists_9"}


def test_an_existing_output_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    out.write_text("precious\n")
    with pytest.raises(InputError, match="already exists; pass --overwrite"):
        compile_samples(EXAMPLES, out, CompileOptions(splits=["dev"]))
    assert out.read_text() == "precious\n"


def first_call_turn(dialogue: dict) -> dict:
    return next(t for t in dialogue["turns"] if "service_call" in t["frames"][0])


@pytest.mark.parametrize(
    ("breaker", "problem"),
    [
        (lambda d: d["turns"][0]["frames"][0].update(state=["x"]), "turn 0: frame of .*: state is not an object"),
        (lambda d: first_call_turn(d)["frames"][0]["service_call"].pop("method"), "service_call needs a method"),
        (lambda d: first_call_turn(d)["frames"][0].update(service_results={"a": "b"}),
         "service_results is not a list of objects"),
        (lambda d: d["turns"][1]["frames"][0]["actions"].append({"slot": "city"}), "turn 1: frame of .* no actions"),
        (lambda d: d["turns"][3].update(utterance=42), "turn 3: missing utterance"),
        (lambda d: d.update(services="Weather_4"), "services is not a list of service names"),
        (lambda d: d["turns"].append(d["turns"][-1]), r"turn \d+: speaker SYSTEM where USER was expected"),
    ],
)
def test_malformed_dialogues_are_reported_not_crashed_on(tmp_path: Path, breaker, problem: str) -> None:
    root = tmp_path / "sgd"
    shutil.copytree(EXAMPLES / "dev", root / "dev")
    path = root / "dev" / "dialogues_001.json"
    dialogues = json.loads(path.read_text())
    breaker(dialogues[2])
    path.write_text(json.dumps(dialogues))
    with pytest.raises(InputError, match=f"dialogues_001.json: dialogue {dialogues[2]['dialogue_id']}: .*{problem}"):
        compile_samples(root, tmp_path / "out.jsonl", CompileOptions(splits=["dev"]))
    assert not (tmp_path / "out.jsonl").exists()
    result = compile_samples(root, tmp_path / "out.jsonl", CompileOptions(splits=["dev"], skip_bad=True))
    assert [bad.dialogue_id for bad in result.report.bad] == [dialogues[2]["dialogue_id"]]
    assert result.dialogues == len(dialogues) - 1


# --- the command -----------------------------------------------------------------------------------------------


def broken_corpus(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "sgd"
    shutil.copytree(EXAMPLES / "dev", root / "dev")
    path = root / "dev" / "dialogues_001.json"
    dialogues = json.loads(path.read_text())
    dialogues[3]["turns"][2]["speaker"] = "SYSTEM"
    path.write_text(json.dumps(dialogues))
    return root, dialogues[3]["dialogue_id"]


def test_command_bad_dialogue_exits_2_naming_file_and_dialogue_and_writes_nothing(tmp_path: Path) -> None:
    root, dialogue_id = broken_corpus(tmp_path)
    out = tmp_path / "runs" / "samples.jsonl"
    result = runner.invoke(app, ["sgd", "compile", "--sgd-root", str(root), "--split", "dev", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert f"dialogues_001.json: dialogue {dialogue_id}: turn 2: speaker SYSTEM where USER was expected" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not manifest_path(out).exists()
    assert not list(out.parent.glob("*")) if out.parent.exists() else True


def test_command_skip_bad_counts_and_lists_them(tmp_path: Path) -> None:
    root, dialogue_id = broken_corpus(tmp_path)
    (root / "dev" / "dialogues_002.json").write_text("not json at all")
    out = tmp_path / "samples.jsonl"
    result = runner.invoke(app, ["--json", "sgd", "compile", "--sgd-root", str(root), "--split", "dev",
                                 "--out", str(out), "--skip-bad"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["bad_skipped"] == 2
    assert [(row["dialogue"], Path(row["file"]).name) for row in summary["bad_dialogues"]] == [
        (dialogue_id, "dialogues_001.json"), ("(whole file)", "dialogues_002.json")]
    assert summary["dialogues"] == 11
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["counts"]["samples"] == summary["samples"] == sum(1 for _ in read_records(out, Sample))
    assert len(manifest["bad"]) == 2


def test_command_accepts_the_seed_pipeline_flags_and_reports_the_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--json", "sgd", "compile", "--sgd_root", str(EXAMPLES), "--splits", "train,dev",
                                 "--out_path", "runs/samples.jsonl", "--eval-fraction", "0.2",
                                 "--prompt-format", "text", "--no-tool-results"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["output"] == "runs/samples.jsonl"
    assert summary["eval_output"] == "runs/samples.eval.jsonl"
    assert {row["split"] for row in summary["samples_per_split"]} == {"train", "dev"}
    assert {"OFFER", "REQUEST", "CONFIRM", "GOODBYE"} <= {row["act"] for row in summary["samples_per_act"]}
    assert summary["prompt_length"]["unit"] == "chars"
    sample = next(read_records(Path("runs/samples.jsonl"), Sample))
    assert isinstance(sample.prompt, str) and "Service results" not in sample.prompt


def test_command_without_a_root_says_where_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sgd", "compile", "--out", "x.jsonl"])
    assert result.exit_code == 2
    assert "pass --sgd-root DIR" in result.output and str(EXAMPLES) in result.output
