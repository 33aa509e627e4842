"""Pairwise evaluation: both orders, agreement rules, position bias, the win rate's interval over dialogues; the acts
comparer offline, the llm comparer against the fake Gemini, and `sgd eval --judge pairwise` through the CLI."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.records import SgdEvalPair
from teachkit.settings import load_settings
from teachkit.sgd.judges import (
    PAIRWISE,
    JudgeTemplate,
    PairOutcome,
    PairwiseActsJudge,
    PairwiseLlmJudge,
    Verdict,
    compare_both_orders,
    open_pairwise_judge,
    pairwise_summary,
)
from teachkit.testing.fake_gemini import request_texts
from tests.sgd.test_evaluate import adapter_dir, cli, eval_file  # noqa: F401 (adapter_dir is a fixture)
from tests.sgd.test_judges import API_KEY, OFFER, REQUEST_CITY, judge_settings

PAIR = re.compile(r"Reply A:\n(.*)\n\nReply B:\n(.*)$", re.DOTALL)


def biased_pairwise_reply(request) -> str:
    """The fake pairwise judge: the reply with more words wins, but when they differ by at most one word it picks
    whichever it read first (A): a position bias the report must show."""
    prompt, _ = request_texts(request.body)
    first, second = (part.strip() for part in PAIR.search(prompt).groups())
    a, b = len(first.split()), len(second.split())
    winner = "A" if abs(a - b) <= 1 else ("A" if a > b else "B")
    return json.dumps({"reasons": f"{a} vs {b} words", "winner": winner})


def compare(judge, samples, base, trained):
    async def go():
        try:
            return await compare_both_orders(judge, samples, base, trained)
        finally:
            await judge.aclose()

    return asyncio.run(go())


def test_acts_comparer_is_deterministic_and_has_no_position_bias() -> None:
    samples = [REQUEST_CITY, OFFER, OFFER, REQUEST_CITY]
    base = ["Hello.", "I found 2 restaurants. Sushi Ran in Fremont is a nice one.", "Sushi Ran?", "Same."]
    trained = ["Which city should I search in?", "Hi.", "Sushi Ran?!", "Same."]
    outcomes = compare(PairwiseActsJudge(), samples, base, trained)
    assert [o.outcome for o in outcomes] == ["win", "loss", "tie", "tie"]
    assert outcomes[3].identical and outcomes[3].reasons() == "identical replies"
    summary = pairwise_summary(outcomes, ["d1", "d2", "d2", "d3"], resamples=200, seed=0)
    assert (summary["wins"], summary["losses"], summary["ties"], summary["compared"]) == (1, 1, 2, 4)
    assert summary["win_rate"] == pytest.approx((1 + 2 / 2) / 4)
    assert summary["position_bias"] == 0 and summary["first_position_share"] == 0.5
    assert summary["inconsistent"] == 0 and summary["identical"] == 1 and summary["dialogues"] == 3
    low, high = summary["ci95"]
    assert 0 <= low <= summary["win_rate"] <= high <= 1


def test_a_sample_is_a_win_only_when_both_orders_agree() -> None:
    def outcome(base_first: str, trained_first: str) -> str | None:
        [result] = asyncio.run(compare_both_orders(Scripted(base_first, trained_first), [OFFER], ["b"], ["t"]))
        return result.outcome

    class Scripted:
        def __init__(self, *winners: str):
            self.winners = winners

        async def compare_batch(self, samples, firsts, seconds):
            return [Verdict(w if w != "fail" else None, error="boom" if w == "fail" else None) for w in self.winners]

    assert outcome("second", "first") == "win"  # trained shown second, then first: chosen both times
    assert outcome("first", "second") == "loss"
    assert outcome("first", "first") == "tie"  # the first position wins both times: position, not quality
    assert outcome("tie", "first") == "tie"
    assert outcome("fail", "first") is None


def test_win_rate_interval_resamples_dialogues() -> None:
    win, loss = PairOutcome("win", Verdict("second"), Verdict("first")), PairOutcome("loss", Verdict("first"),
                                                                                     Verdict("second"))
    # Every turn of one dialogue agrees: the interval over dialogues is as wide as 2 dialogues allow.
    summary = pairwise_summary([win] * 5 + [loss] * 5, ["a"] * 5 + ["b"] * 5, resamples=500, seed=0)
    assert summary["win_rate"] == 0.5 and summary["dialogues"] == 2
    assert summary["ci95"] == [0.0, 1.0]
    failed = PairOutcome(None, Verdict(None, error="x"), Verdict("first"))
    summary = pairwise_summary([win, failed], ["a", "b"], resamples=100, seed=0)
    assert summary["compared"] == 1 and summary["failed"] == 1 and summary["win_rate"] == 1.0


@pytest.fixture
def pairwise_judge(fake_gemini, monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.reply_fn = biased_pairwise_reply

    def make(**overrides: object) -> PairwiseLlmJudge:
        settings = judge_settings(tmp_path, fake_gemini.url, **{"judge.kind": "pairwise", **overrides})
        judge = open_pairwise_judge(settings)
        assert isinstance(judge, PairwiseLlmJudge)
        return judge

    return make


def test_llm_comparer_asks_both_orders_counts_position_bias_and_caches(pairwise_judge, fake_gemini) -> None:
    samples = [OFFER, REQUEST_CITY, OFFER]
    base = ["one two three four five six", "one two", "one"]
    trained = ["one", "one two three", "one two three four five"]
    outcomes = compare(pairwise_judge(), samples, base, trained)
    # 6 vs 1 word: base wins in both orders; 2 vs 3: the first position wins each time; 1 vs 5: trained.
    assert [o.outcome for o in outcomes] == ["loss", "tie", "win"]
    assert len(fake_gemini.requests) == 6
    summary = pairwise_summary(outcomes, ["d1", "d2", "d3"], resamples=200, seed=0)
    assert summary["inconsistent"] == 1 and summary["verdicts"] == 6
    assert (summary["first_position_wins"], summary["second_position_wins"]) == (4, 2)
    assert summary["position_bias"] == pytest.approx(2 / 6)
    assert summary["win_rate"] == pytest.approx(0.5)
    body = fake_gemini.requests[0].body["generationConfig"]["responseJsonSchema"]
    assert body["properties"]["winner"]["enum"] == ["A", "B", "tie"] and body["properties"]["reasons"]["maxLength"]
    # Verdicts are cached per ordered pair: a second pass sends nothing.
    again = pairwise_judge()
    assert [o.outcome for o in compare(again, samples, base, trained)] == ["loss", "tie", "win"]
    assert len(fake_gemini.requests) == 6 and again.stats.cache_hits == 6


def test_unreadable_verdict_leaves_the_sample_out(pairwise_judge, fake_gemini) -> None:
    fake_gemini.reply_fn = lambda request: json.dumps({"reasons": "hm", "winner": "both"})
    judge = pairwise_judge(cache=False)
    [outcome] = compare(judge, [OFFER], ["a"], ["b"])
    assert outcome.outcome is None and "winner 'both' is not A, B or tie" in outcome.base_first.error
    assert judge.stats.failures == 2


def test_pairwise_template_needs_both_replies(tmp_path) -> None:
    packaged = JudgeTemplate.load(form=PAIRWISE)
    assert packaged.version.startswith("sgd-pairwise-judge-v1+")
    example = Path(__file__).parents[2] / "examples" / "pairwise_judge_template.txt"
    assert JudgeTemplate.load(example, PAIRWISE).version == packaged.version
    path = tmp_path / "pair.txt"
    path.write_text("[user]\nWhich is better for $reference? $first\n")
    with pytest.raises(InputError, match=r"never shows the two replies to compare; add \$second"):
        JudgeTemplate.load(path, PAIRWISE)


def test_pairwise_is_refused_where_it_does_not_belong(tmp_path) -> None:
    from teachkit.sgd.judges import open_judge

    with pytest.raises(InputError, match="--judge pairwise compares two students"):
        open_judge(load_settings(None, {"judge.kind": "pairwise"}))
    result = cli("sgd", "eval", "--eval", str(eval_file(tmp_path / "e.jsonl")), "--judge", "pairwise",
                 "--pairwise-judge", "acts", "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 2 and "pass --trained DIR" in result.stderr


# --- `sgd eval --judge pairwise` on the tiny models ---------------------------------------------------------------


def test_cli_eval_pairwise_offline_with_acts(tiny_model_dir, adapter_dir, tmp_path) -> None:  # noqa: F811
    report = tmp_path / "report.json"
    result = cli("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--trained",
                 str(adapter_dir), "--n", "3", "--judge", "pairwise", "--pairwise-judge", "acts",
                 "--max-new-tokens", "6", "--bootstrap", "200", "--out", str(report))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    pairwise = document["pairwise"]
    assert pairwise["judge"] == "pairwise acts-v2" and pairwise["compared"] == 3
    assert pairwise["wins"] + pairwise["losses"] + pairwise["ties"] == 3
    assert pairwise["win_rate"] == pytest.approx((pairwise["wins"] + pairwise["ties"] / 2) / 3)
    assert len(pairwise["ci95"]) == 2 and pairwise["position_bias"] in (0, None)
    # The absolute means stay beside it (acts scores).
    assert document["judge"] == "acts-v2" and document["base"]["scored"] == document["trained"]["scored"] == 3
    pairs = list(read_records(report.with_name("report.responses.jsonl"), SgdEvalPair))
    assert all(p.pairwise in ("win", "loss", "tie") and p.pairwise_reasons for p in pairs)


def test_cli_eval_pairwise_against_the_fake_gemini_reports_position_bias(
    tiny_model_dir, adapter_dir, tmp_path, fake_gemini, monkeypatch  # noqa: F811
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("TEACHKIT_JUDGE__BASE_URL", fake_gemini.url)
    monkeypatch.setenv("TEACHKIT_PATHS__CACHE_DIR", str(tmp_path / "cache"))
    fake_gemini.reply_fn = biased_pairwise_reply
    report = tmp_path / "report.json"
    result = cli("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--trained",
                 str(adapter_dir), "--n", "3", "--judge", "pairwise", "--judge-model", "gemini:gemini-2.5-flash",
                 "--max-new-tokens", "6", "--bootstrap", "200", "--out", str(report))
    assert result.exit_code == 0, result.output
    pairwise = json.loads(result.stdout)["pairwise"]
    pairs = list(read_records(report.with_name("report.responses.jsonl"), SgdEvalPair))
    differing = [p for p in pairs if p.base_response != p.trained_response]
    assert differing, "the adapter should change some replies"
    assert pairwise["judge"].startswith("pairwise gemini:gemini-2.5-flash")
    assert len(fake_gemini.requests) == 2 * len(differing) == pairwise["verdicts"]
    # What the fake decides, worked out from the replies: the report must count the same.
    expected_first = expected_second = 0
    for pair in differing:
        for first, second in ((pair.base_response, pair.trained_response), (pair.trained_response, pair.base_response)):
            # As the prompt shows them: an empty reply is "(empty reply)".
            a, b = (len((reply.strip() or "(empty reply)").split()) for reply in (first, second))
            if abs(a - b) <= 1 or a > b:
                expected_first += 1
            else:
                expected_second += 1
    assert (pairwise["first_position_wins"], pairwise["second_position_wins"]) == (expected_first, expected_second), [
        (p.base_response, p.trained_response) for p in differing]
    assert pairwise["position_bias"] == pytest.approx((expected_first - expected_second) / (2 * len(differing)))
    assert all(p.pairwise in ("win", "loss", "tie") for p in pairs)
