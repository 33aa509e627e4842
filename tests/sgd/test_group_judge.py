"""The group judge: one request per GRPO group against the fake Gemini, order-independent caching, failures, faults,
its template, and a real GRPO step of 4 prompts x 4 completions on the tiny model (4 calls; llm: 16; resumed: 0)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from teachkit.errors import InputError, ProviderFault
from teachkit.jsonl import write_records
from teachkit.settings import load_settings
from teachkit.sgd.judges import GROUP, GroupJudge, JudgeTemplate, open_judge
from teachkit.sgd.judges.group import labels
from teachkit.sgd.train import train_grpo
from teachkit.testing.fake_gemini import request_texts, text
from tests.sgd.test_judges import API_KEY, OFFER, REQUEST_CITY, judge_settings, make_sample

CANDIDATE = re.compile(r"^\[([A-Z]+)\]\n(.*?)(?=\n\n\[[A-Z]+\]\n|\Z)", re.DOTALL | re.MULTILINE)


def shown_candidates(request) -> dict[str, str]:
    """Label -> reply, as the group prompt shows them."""
    prompt, _ = request_texts(request.body)
    block = prompt.split("Candidate replies (", 1)[1].split("):\n", 1)[1]
    return {label: reply.strip() for label, reply in CANDIDATE.findall(block)}


def graded_group_reply(request) -> str:
    """The fake group judge: each candidate's score = its words / 10, capped at 1."""
    shown = shown_candidates(request)
    scores = {label: min(1.0, len(reply.split()) / 10) for label, reply in shown.items()}
    return json.dumps({"reasons": f"{len(shown)} compared", "scores": scores})


@pytest.fixture
def group_judge(fake_gemini, monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.reply_fn = graded_group_reply

    def make(**overrides: object) -> GroupJudge:
        judge = open_judge(judge_settings(tmp_path, fake_gemini.url, **{"judge.kind": "group", **overrides}))
        assert isinstance(judge, GroupJudge)
        return judge

    return make


def run_batch(judge, samples, responses):
    async def go():
        try:
            return await judge.judge_batch(samples, responses)
        finally:
            await judge.aclose()

    return asyncio.run(go())


def test_labels_go_on_past_z() -> None:
    assert labels(3) == ["A", "B", "C"]
    assert labels(28)[25:] == ["Z", "AA", "AB"]


def test_one_request_per_group_scores_map_back_to_each_completion(group_judge, fake_gemini) -> None:
    offer = ["one", "one two three", "one two", "one two three four five"]
    city = ["Which city?", "Where would you like to eat tonight?"]
    other = REQUEST_CITY.model_copy(update={"id": "train/1_00000/1"})
    samples = [OFFER] * 4 + [other] * 2
    judge = group_judge()
    results = run_batch(judge, samples, offer + city)
    assert [j.score for j in results] == [0.1, 0.3, 0.2, 0.5, 0.2, 0.7]
    assert len(fake_gemini.requests) == 2 and judge.stats.calls == 2 and judge.stats.scored == 6
    # The request shows the group's distinct completions sorted and labelled, and asks for a bounded schema.
    shown = {tuple(shown_candidates(r).values()) for r in fake_gemini.requests}
    assert tuple(sorted(offer)) in shown and tuple(sorted(city)) in shown
    schema = fake_gemini.requests[0].body["generationConfig"]["responseJsonSchema"]
    assert schema["properties"]["reasons"]["maxLength"] == 600
    assert set(schema["properties"]["scores"]["required"]) in ({"A", "B", "C", "D"}, {"A", "B"})
    assert results[0].reasons.startswith("A of 4: ")


def test_the_same_group_in_another_order_is_answered_from_the_cache(group_judge, fake_gemini) -> None:
    responses = ["a b c", "a", "a b c d e f", "a b"]
    first = run_batch(group_judge(), [OFFER] * 4, responses)
    sent = len(fake_gemini.requests)
    order = list(range(4))
    random.Random(1).shuffle(order)
    again = group_judge()
    second = run_batch(again, [OFFER] * 4, [responses[i] for i in order])
    assert [j.score for j in second] == [first[i].score for i in order]
    assert len(fake_gemini.requests) == sent and again.stats.calls == 0 and again.stats.cache_hits == 1
    # A repeated completion is shown once and scored once; both copies get its score.
    duplicated = run_batch(group_judge(cache=False), [OFFER] * 3, ["x y", "x y", "x"])
    assert [j.score for j in duplicated] == [0.2, 0.2, 0.1]
    assert list(shown_candidates(fake_gemini.requests[-1]).values()) == ["x", "x y"]


def test_a_failed_group_is_none_for_every_member_counted_and_not_cached(group_judge, fake_gemini) -> None:
    fake_gemini.reply_fn = None
    fake_gemini.push(text(json.dumps({"reasons": "only one", "scores": {"A": 0.5}})))
    judge = group_judge(cache=False)
    results = run_batch(judge, [OFFER] * 3, ["a", "b", "c"])
    assert [j.score for j in results] == [None, None, None]
    assert "score of B None" in results[0].error
    assert judge.stats.failures == 3 and judge.stats.calls == 1 and judge.stats.scored == 0
    fake_gemini.reply_fn = graded_group_reply
    retry = group_judge(cache=False)
    assert [j.score for j in run_batch(retry, [OFFER] * 3, ["a", "b", "c"])] == [0.1, 0.1, 0.1]


def test_a_fault_no_retry_mends_stops_the_group_judge(group_judge, fake_gemini) -> None:
    fake_gemini.fail_every_request("api_key")
    with pytest.raises(ProviderFault, match="API key") as raised:
        run_batch(group_judge(), [OFFER] * 2, ["a", "b"])
    assert API_KEY not in str(raised.value)


def test_group_template_renders_and_checks_its_placeholders(tmp_path: Path) -> None:
    template = JudgeTemplate.load(form=GROUP)
    assert template.version.startswith("sgd-group-judge-v1+")
    example = Path(__file__).parents[2] / "examples" / "group_judge_template.txt"
    assert JudgeTemplate.load(example, GROUP).version == template.version
    path = tmp_path / "group.txt"
    path.write_text("[user]\nGrade $response\n")
    with pytest.raises(InputError, match=r"unknown placeholder\(s\) \$response; a group judge template knows"):
        JudgeTemplate.load(path, GROUP)
    path.write_text("[user]\nGrade against $reference: $labels\n")
    with pytest.raises(InputError, match=r"never shows the labelled replies; add \$responses"):
        JudgeTemplate.load(path, GROUP)


# --- a real GRPO step --------------------------------------------------------------------------------------------


def four_prompts(path: Path) -> Path:
    samples = [make_sample([("REQUEST", "city", [])], "Which city?", sample_id=f"train/1_0000{i}/1")
               for i in range(3)] + [OFFER]
    write_records(path, samples)
    return path


def step_settings(tiny_model_dir: Path, tmp_path: Path, fake_url: str, kind: str, steps: int, run: str):
    return load_settings(None, {
        "sgd.train.model": str(tiny_model_dir), "sgd.train.output_dir": str(tmp_path / run),
        "sgd.train.max_steps": steps, "sgd.train.num_generations": 4, "sgd.train.per_device_train_batch_size": 16,
        "sgd.train.max_completion_length": 8, "sgd.train.learning_rate": 0.05, "sgd.train.save_steps": 1,
        "sgd.train.lora_r": 4, "sgd.train.lora_alpha": 8, "sgd.train.max_prompt_length": 512,
        "paths.cache_dir": str(tmp_path / f"cache-{kind}"), "judge.kind": kind, "judge.base_url": fake_url,
        "judge.max_attempts": 1, "judge.timeout_s": 10,
    })


def both_judges(request):
    prompt, _ = request_texts(request.body)
    if "Candidate replies (" in prompt:
        return graded_group_reply(request)
    graded = re.search(r"Reply to grade: (.*)$", prompt, re.DOTALL).group(1).strip()
    return json.dumps({"score": min(1.0, len(graded.split()) / 10), "reasons": "words"})


def test_a_grpo_step_of_4_prompts_x_4_makes_4_group_calls_16_llm_calls_and_0_when_resumed(
    tiny_model_dir, tmp_path, fake_gemini, monkeypatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.reply_fn = both_judges
    train_file = four_prompts(tmp_path / "train.jsonl")

    report = train_grpo(train_file, step_settings(tiny_model_dir, tmp_path, fake_gemini.url, "group", 2, "group"))
    assert report.steps == 2 and report.judge_stats["judge_failures"] == 0
    assert [h.judge_calls for h in report.history] == [4, 4]
    assert len(fake_gemini.requests) == 8
    assert all(len(shown_candidates(r)) <= 4 for r in fake_gemini.requests)

    # Killed while step 2 was being saved: checkpoint-2 is gone, --resume redoes step 2 from checkpoint-1, with the
    # same completions (the checkpoint restores the RNG), and the score cache answers every group.
    shutil.rmtree(tmp_path / "group" / "checkpoint-2")
    (tmp_path / "group" / "teachkit-training.json").unlink()
    sent = len(fake_gemini.requests)
    resumed = train_grpo(train_file, step_settings(tiny_model_dir, tmp_path, fake_gemini.url, "group", 2, "group"),
                         resume=True)
    assert resumed.resumed_from.endswith("checkpoint-1") and resumed.steps == 2
    assert len(fake_gemini.requests) == sent
    assert [(h.judge_calls, h.cache_hits) for h in resumed.history] == [(0, 4)]

    sent = len(fake_gemini.requests)
    llm = train_grpo(train_file, step_settings(tiny_model_dir, tmp_path, fake_gemini.url, "llm", 1, "llm"))
    distinct = {(r.body["contents"][-1]["parts"][0]["text"]) for r in fake_gemini.requests[sent:]}
    assert llm.history[0].judge_calls == 16 == len(fake_gemini.requests) - sent == len(distinct)


def test_group_judge_needs_whole_groups_on_each_device(tmp_path: Path) -> None:
    from teachkit.sgd.train import check_batch_shape

    settings = load_settings(None, {"sgd.train.num_generations": 4, "sgd.train.per_device_train_batch_size": 2,
                                    "sgd.train.gradient_accumulation_steps": 1})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORLD_SIZE", "2")
        check_batch_shape(settings.sgd.train, "llm")
        with pytest.raises(InputError, match="--judge group: .* 2 completions per device, which must be divisible"):
            check_batch_shape(settings.sgd.train, "group")
