"""Judges: the acts formula on hand-written cases, the judge template, and the llm judge against the fake Gemini."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from teachkit.errors import InputError
from teachkit.records import ChatMessage, Sample, ServiceCall, SystemAction
from teachkit.settings import load_settings
from teachkit.sgd.judges import ActsJudge, JudgeTemplate, LlmJudge, MixJudge, ScoreCache, open_judge
from teachkit.testing.fake_gemini import request_texts, text

API_KEY = "AIza-judge-test-SECRET-42"
RESTAURANTS = [
    {"restaurant_name": "Sushi Ran", "city": "Fremont", "phone_number": "510-555-0199", "cuisine": "Japanese",
     "has_live_music": "False", "price_range": "moderate"},
    {"restaurant_name": "Bamboo Garden", "city": "Fremont", "phone_number": "510-555-0123", "cuisine": "Japanese",
     "has_live_music": "True", "price_range": "cheap"},
]


def make_sample(
    actions: list[tuple[str, str, list[str]] | tuple[str, str, list[str], list[str]]],
    reference: str,
    *,
    results: list[dict[str, str]] | None = None,
    user: str = "I'd like Japanese food in Fremont for two people.",
    sample_id: str = "train/1_00000/3",
) -> Sample:
    """A compiled-looking sample: system message with the service results, a few turns, the reference acts."""
    system = "You are a virtual assistant.\n\nServices: Restaurants_1 (Find restaurants and reserve a table)"
    call = None
    if results is not None:
        call = ServiceCall(method="FindRestaurants", parameters={"city": "Fremont", "cuisine": "Japanese"})
        rows = "\n".join("; ".join(f"{k}: {v}" for k, v in row.items()) for row in results)
        system += f"\n\nService results ({len(results)}):\n{rows}"
    parsed = []
    for action in actions:
        act, slot, values, *canonical = action
        parsed.append(SystemAction(act=act, slot=slot, values=values, canonical_values=canonical[0] if canonical else []))
    return Sample(
        id=sample_id,
        dialogue_id=sample_id.split("/")[1],
        turn_index=int(sample_id.rsplit("/", 1)[1]),
        split="train",
        services=["Restaurants_1"],
        prompt=[
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content="Hi, I'm hungry."),
            ChatMessage(role="assistant", content="Which city should I search in?"),
            ChatMessage(role="user", content=user),
        ],
        ground_truth=reference,
        system_actions=parsed,
        service_call=call,
        service_results=results or [],
        task_description="Services: Restaurants_1\nCurrent task: FindRestaurants with Restaurants_1.",
    )


REQUEST_CITY = make_sample([("REQUEST", "city", [])], "Which city should I search in?")
OFFER = make_sample(
    [("OFFER", "restaurant_name", ["Sushi Ran"]), ("OFFER", "city", ["Fremont"]), ("INFORM_COUNT", "count", ["2"])],
    "I found 2 restaurants. Sushi Ran in Fremont is a nice one.",
    results=RESTAURANTS,
)
CONFIRM = make_sample(
    [("CONFIRM", "restaurant_name", ["Sushi Ran"]), ("CONFIRM", "time", ["7:30 pm"], ["19:30"]),
     ("CONFIRM", "date", ["March 7th"], ["2019-03-07"]), ("CONFIRM", "number_of_seats", ["2"])],
    "Please confirm: a table for 2 at Sushi Ran at 7:30 pm on March 7th.",
)
INFORM_FALSE = make_sample(
    [("INFORM", "has_live_music", ["False"])], "No, they don't have live music.", results=RESTAURANTS[:1]
)
SUCCESS = make_sample([("NOTIFY_SUCCESS", "", []), ("REQ_MORE", "", [])], "Your table is booked. Anything else?")
GOODBYE = make_sample([("GOODBYE", "", [])], "Have a great day!")
OFFER_INTENT = make_sample(
    [("OFFER_INTENT", "intent", ["ReserveRestaurant"])], "Would you like to reserve a table?", results=RESTAURANTS
)

acts = ActsJudge()


@pytest.mark.parametrize(
    ("sample", "response", "expected"),
    [
        # Each reference performs its own acts.
        (REQUEST_CITY, "Which city should I search in?", 1.0),
        (OFFER, "I found 2 restaurants. Sushi Ran in Fremont is a nice one.", 1.0),
        (CONFIRM, "Please confirm: a table for 2 at Sushi Ran at 7:30 pm on March 7th.", 1.0),
        (SUCCESS, "Your table is booked. Anything else?", 1.0),
        (GOODBYE, "Have a great day!", 1.0),
        # Other words, same acts: synonyms, number words, 24-hour clock, day-month order.
        (REQUEST_CITY, "Where would you like to eat?", 1.0),
        (OFFER, "There are two places; how about Sushi Ran in Fremont?", 1.0),
        (CONFIRM, "So that's Sushi Ran, 2 people, 19:30 on 7 March, correct?", 1.0),
        (SUCCESS, "Your reservation went through. Can I help you with anything else?", 1.0),
        (INFORM_FALSE, "Sushi Ran has no live music.", 1.0),
        (OFFER_INTENT, "Shall I book a table for you?", 1.0),
        # Part of an act: names the intent without asking (0.5); asks about something else (0.25).
        (OFFER_INTENT, "I can book it.", 0.5),
        (REQUEST_CITY, "Could you tell me more?", 0.25),
        # Missed acts.
        (GOODBYE, "Is there anything else?", 0.0),
        (SUCCESS, "Sorry, that did not work.", 0.0),
        (INFORM_FALSE, "Sushi Ran has live music.", 0.0),
        (REQUEST_CITY, "", 0.0),
    ],
)
def test_acts_score_hand_written_cases(sample: Sample, response: str, expected: float) -> None:
    assert acts.score(sample, response).score == pytest.approx(expected)


def test_acts_formula_multiplies_coverage_by_each_penalty() -> None:
    # Count wrong (5 is nowhere in the context or results): coverage 2/3, one contradiction (x0.75).
    scored = acts.score(OFFER, "I found 5 restaurants. Sushi Ran in Fremont.")
    assert scored.coverage == pytest.approx(2 / 3)
    assert scored.contradictions == ["5"]
    assert scored.contradiction_factor == pytest.approx(0.75)
    assert scored.score == pytest.approx(round(2 / 3 * 0.75, 4))
    # A time that was not confirmed is an invented number: x0.75 on top of the missed time.
    scored = acts.score(CONFIRM, "Booking Sushi Ran at 8 pm for 2 on March 7th, ok?")
    assert scored.contradictions == ["8"]
    assert scored.per_action[1] == ("CONFIRM time", 0.0)
    assert scored.score == pytest.approx(round((1 + 0 + 1 + 1) / 4 * 0.75, 4))
    # Confirming without asking is 0.75 of each value.
    assert acts.score(CONFIRM, "A table for 2 at Sushi Ran at 7:30 pm on March 7th.").score == 0.75


def test_acts_penalises_the_other_entity_from_the_service_results() -> None:
    scored = acts.score(OFFER, "How about Bamboo Garden in Fremont?")
    assert scored.contradictions == ["Bamboo Garden"]
    assert scored.score == pytest.approx(round(1 / 3 * 0.75, 4))
    wrong_phone = make_sample([("INFORM", "phone_number", ["510-555-0199"])], "Their number is 510-555-0199.",
                              results=RESTAURANTS)
    assert acts.score(wrong_phone, "Their number is 510-555-0199.").score == 1.0
    assert acts.score(wrong_phone, "Call them at 510-555-0123.").score == 0.0


def test_acts_cannot_be_gamed_by_listing_slot_names() -> None:
    listed = acts.score(REQUEST_CITY, "What city, date, time, number of seats, cuisine, price range and rating?")
    assert listed.per_action == [("REQUEST city", 1.0)]
    assert set(listed.extra_requests) >= {"date", "time", "cuisine", "price", "rating"}
    assert listed.score == 0.0
    schema_words = acts.score(REQUEST_CITY, "Please give the restaurant_name and city?")
    assert schema_words.leaks == ["restaurant_name"]
    assert schema_words.score == 0.75
    every_act = "Which city? Sushi Ran, Bamboo Garden. Booked! Anything else? Goodbye!"
    assert acts.score(REQUEST_CITY, every_act).score <= 0.5


def test_acts_penalises_copying_the_task_description() -> None:
    # What GRPO learned against an earlier acts judge that paid 0.5 for any question on a REQUEST turn.
    sample = REQUEST_CITY.model_copy(update={
        "task_description": "Current task: FindRestaurants (Search for restaurants in a city that serve a cuisine)."})
    copied = acts.score(sample, "Find the ones that serve a cuisine?")
    assert copied.copy_factor == pytest.approx(1 - 2 * 2 / 5)  # "that serve a", "serve a cuisine" of 5 trigrams
    assert copied.per_action == [("REQUEST city", 0.25)]
    assert copied.score < 0.1
    # Words the user said are not copying, even when the task description has them too.
    echoed = sample.model_copy(update={"prompt": [*sample.prompt[:-1], ChatMessage(
        role="user", content="Find restaurants in a city that serve a cuisine I like.")]})
    assert acts.score(echoed, "Which city? I will find restaurants in a city that serve a cuisine you like.").copy_factor == 1.0
    assert acts.score(sample, sample.ground_truth).score == 1.0


def test_acts_length_and_repetition_penalties() -> None:
    repeated = acts.score(REQUEST_CITY, " ".join(["Which city should I search in?"] * 4))
    assert repeated.repetition_factor < 0.5
    rambling = "Which city should I search in? " + "I am a helpful assistant and I like restaurants a lot. " * 6
    scored = acts.score(REQUEST_CITY, rambling)
    reference_words = 6
    allowed = 2 * reference_words + 10
    words = len(rambling.split())
    assert scored.length_factor == pytest.approx(max(0.0, 1 - (words - allowed) / allowed))
    assert scored.score < 0.3


def test_acts_goodbye_in_the_middle_of_a_task_is_halved() -> None:
    scored = acts.score(REQUEST_CITY, "Which city? Bye!")
    assert scored.goodbye_factor == 0.5
    assert scored.score == 0.5


def test_acts_turn_without_actions_scores_word_overlap() -> None:
    bare = make_sample([], "Sushi Ran is great.")
    assert acts.score(bare, "Sushi Ran is great.").score == 1.0
    assert acts.score(bare, "Hello there.").score == 0.0


def test_acts_judge_batch_reasons() -> None:
    results = asyncio.run(acts.judge_batch([OFFER, OFFER], ["How about Bamboo Garden?", ""]))
    assert "contradicts: Bamboo Garden" in results[0].reasons
    assert results[1].reasons == "empty response"


# --- the template ---------------------------------------------------------------------------------------------


def test_default_template_renders_every_part_of_the_sample() -> None:
    template = JudgeTemplate.load()
    assert template.version.startswith("sgd-judge-v1+")
    messages = template.render(OFFER, "How about Sushi Ran?")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    for part in ("Reply to grade: How about Sushi Ran?", "Reference reply: I found 2 restaurants",
                 '"restaurant_name": "Bamboo Garden"', "OFFER restaurant_name =Sushi Ran", "USER: I'd like Japanese",
                 "Current task: FindRestaurants"):
        assert part in user


def test_example_template_is_the_packaged_one() -> None:
    example = Path(__file__).parents[2] / "examples" / "judge_template.txt"
    assert JudgeTemplate.load(example).version == JudgeTemplate.load().version


def test_custom_template_version_follows_its_text(tmp_path: Path) -> None:
    path = tmp_path / "judge.txt"
    path.write_text("# version: mine-1\n[user]\nGrade $response against $reference. Costs $$0.\n")
    first = JudgeTemplate.load(path)
    assert first.version.startswith("mine-1+")
    assert first.render(REQUEST_CITY, "Where?")[0] == {
        "role": "user", "content": "Grade Where? against Which city should I search in?. Costs $0."}
    path.write_text("# version: mine-1\n[user]\nScore $response.\n")
    assert JudgeTemplate.load(path).version != first.version


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[user]\nGrade $reply\n", r"unknown placeholder\(s\) \$reply"),
        ("[user]\nGrade $reference\n", r"add \$response"),
        ("[system]\nYou grade.\n", r"no \[user\] section"),
        ("Grade this\n[user]\n$response\n", r"judge.txt:1: text before the first section"),
        ("[user]\nCosts $5 for $response\n", r"malformed placeholder"),
    ],
)
def test_bad_templates_say_what_to_fix(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "judge.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        JudgeTemplate.load(path)


# --- the llm judge on the fake Gemini ---------------------------------------------------------------------------


def judge_settings(tmp_path: Path, fake_url: str, **overrides: object):
    values: dict[str, object] = {
        "paths.cache_dir": str(tmp_path / "cache"),
        "judge.kind": "llm",
        "judge.provider": "gemini",
        "judge.model": "gemini-2.5-flash",
        "judge.base_url": fake_url,
        "judge.retry_initial_delay_s": 0.001,
        "judge.retry_max_delay_s": 0.01,
        "judge.max_attempts": 2,
        "judge.timeout_s": 5,
    }
    values.update(overrides)
    return load_settings(None, values)


def graded_reply(request) -> str:
    """The fake judge: score = (words in the graded reply) / 10, capped at 1."""
    prompt, _ = request_texts(request.body)
    graded = re.search(r"Reply to grade: (.*)$", prompt, re.DOTALL).group(1).strip()
    return json.dumps({"score": min(1.0, len(graded.split()) / 10), "reasons": f"{len(graded.split())} words"})


@pytest.fixture
def gemini_judge(fake_gemini, monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.reply_fn = graded_reply

    def make(**overrides: object):
        return open_judge(judge_settings(tmp_path, fake_gemini.url, **overrides))

    return make


def run_batch(judge, samples, responses):
    async def go():
        try:
            return await judge.judge_batch(samples, responses)
        finally:
            await judge.aclose()

    return asyncio.run(go())


def test_llm_judge_scores_a_batch_and_a_second_pass_makes_no_calls(gemini_judge, fake_gemini) -> None:
    responses = [" ".join(["word"] * n) for n in range(1, 9)] + ["Which city?"]
    samples = [OFFER] * 8 + [REQUEST_CITY]
    judge = gemini_judge()
    assert isinstance(judge, LlmJudge)
    first = run_batch(judge, samples, responses)
    assert [j.score for j in first] == [n / 10 for n in range(1, 9)] + [0.2]
    assert first[0].reasons == "1 words"
    assert judge.stats.calls == 9 and judge.stats.cache_hits == 0
    sent = len(fake_gemini.requests)
    # A new judge (as after a restart) reads the scores from the SQLite score cache: no request at all.
    again = gemini_judge()
    second = run_batch(again, samples, responses)
    assert [j.score for j in second] == [j.score for j in first]
    assert all(j.from_cache for j in second)
    assert len(fake_gemini.requests) == sent
    assert again.stats.calls == 0 and again.stats.cache_hits == 9
    # The same response to another sample is another score.
    other = make_sample([("REQUEST", "city", [])], "Which city?", sample_id="train/9_00009/1")
    run_batch(gemini_judge(), [other], ["Which city?"])
    assert len(fake_gemini.requests) == sent + 1


def test_llm_judge_asks_once_for_a_repeated_completion(gemini_judge, fake_gemini) -> None:
    judge = gemini_judge(cache=False)
    results = run_batch(judge, [OFFER] * 4, ["Same reply."] * 4)
    assert [j.score for j in results] == [0.2] * 4
    assert len(fake_gemini.requests) == 1


def test_llm_judge_failures_are_none_counted_and_never_cached(gemini_judge, fake_gemini) -> None:
    from teachkit.testing.fake_gemini import error

    fake_gemini.reply_fn = None
    fake_gemini.push(
        error(500, "boom", "INTERNAL"), error(500, "boom", "INTERNAL"),  # both attempts of the first request fail
        text("I think it is fine."),  # no JSON
        text(json.dumps({"score": 7, "reasons": "out of ten"})),  # out of range
    )
    judge = gemini_judge(**{"judge.concurrency": 1})
    results = run_batch(judge, [OFFER, OFFER, OFFER], ["one", "two", "three"])
    assert [j.score for j in results] == [None, None, None]
    assert judge.stats.failures == 3 and judge.stats.calls == 3
    assert "server" in results[0].error
    assert "no JSON" in results[1].error
    assert "not a number from 0 to 1" in results[2].error
    # No failure entered the score cache: the next run asks again. The reply with a score of 7 was a well-formed
    # model reply, so the response cache kept it and it fails again without a call (fix the template, or --no-cache).
    fake_gemini.reply_fn = graded_reply
    retry = gemini_judge()
    assert [j.score for j in run_batch(retry, [OFFER, OFFER, OFFER], ["one", "two", "three"])] == [0.1, 0.1, None]
    assert retry.stats.calls == 2 and retry.stats.failures == 1


def test_score_cache_survives_reopening(tmp_path: Path) -> None:
    from teachkit.sgd.judges import Judgement

    cache = ScoreCache(tmp_path / "scores.sqlite")
    key = ScoreCache.key(judge="gemini:x", template_version="v1+abc", sample=OFFER, response="Hi", options={})
    cache.put(key, Judgement(score=0.7, reasons="fine"))
    cache.close()
    reopened = ScoreCache(tmp_path / "scores.sqlite")
    assert reopened.get(key).score == 0.7
    for change in ({"template_version": "v2+abc"}, {"judge": "gemini:y"}, {"response": "Hi!"}):
        arguments = {"judge": "gemini:x", "template_version": "v1+abc", "sample": OFFER, "response": "Hi",
                     "options": {}, **change}
        assert ScoreCache.key(**arguments) != key
    reopened.close()


def test_mix_judge_weights_llm_and_acts(gemini_judge) -> None:
    judge = gemini_judge(**{"judge.kind": "mix", "judge.llm_weight": 0.25})
    assert isinstance(judge, MixJudge)
    reply = "Which city should I search in?"  # acts 1.0, fake llm 6 words -> 0.6
    results = run_batch(judge, [REQUEST_CITY], [reply])
    assert results[0].score == pytest.approx(0.25 * 0.6 + 0.75 * 1.0)


def test_open_judge_acts_needs_no_key(tmp_path: Path) -> None:
    judge = open_judge(load_settings(None, {"paths.cache_dir": str(tmp_path), "judge.kind": "acts"}))
    assert isinstance(judge, ActsJudge)
    with pytest.raises(InputError, match="no Gemini API key"):
        open_judge(load_settings(None, {"paths.cache_dir": str(tmp_path), "judge.kind": "llm"}))
