"""The local policy: one batched forward pass per step ranks the 17 replies exactly as a plain forward pass would,
on a ChatML Llama and on a Gemma 2 (no system role, `<end_of_turn>`)."""

from __future__ import annotations

import asyncio

import pytest

from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.local_policy import LocalPolicy, ReplyTree, completion_ids
from teachkit.crafter.observation import observe
from teachkit.crafter.prompts import response_text
from teachkit.crafter.teachers import Turn
from teachkit.records import StudentPrompt
from teachkit.settings import load_settings
from teachkit.students.chat_template import StudentChat, end_of_turn_ids
from teachkit.students.loading import load_student


@pytest.fixture(scope="module", params=["llama", "gemma2"])
def tiny(request: pytest.FixtureRequest):
    folder = request.getfixturevalue("tiny_model_dir" if request.param == "llama" else "tiny_gemma2_dir")
    student = load_student(str(folder), load_settings())
    return student.model, student.tokenizer


def turns_for(seeds: list[int], t: int = 0) -> list[Turn]:
    turns = []
    for seed in seeds:
        game = CrafterGame(max_steps=50)
        game.reset(seed)
        for _ in range(seed % 3):
            game.step("move_left")
        turns.append(Turn(episode_id=f"seed-{seed}", seed=seed, t=t, observation=observe(game, "compact"),
                          history=[], game=game))
    return turns


def plain_scores(model, tokenizer, prompt_ids: list[int]) -> dict[str, float]:
    """Each reply's log-likelihood from its own forward pass over prompt + reply (the reference)."""
    import torch

    scores = {}
    chat, stops = StudentChat(tokenizer), end_of_turn_ids(model, tokenizer)
    for name in ACTIONS:
        reply = completion_ids(chat, response_text(name), stops)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + reply])).logits.float()
        log_probs = torch.log_softmax(logits, dim=-1)[0]
        start = len(prompt_ids) - 1
        scores[name] = sum(float(log_probs[start + k, token]) for k, token in enumerate(reply))
    return scores


def test_reply_tree_shares_prefixes() -> None:
    tree = ReplyTree({"a": [1, 2, 9], "b": [1, 3, 9], "c": [4, 9]})
    assert len(tree.nodes) == 7 and [tree.nodes[i].token for i in tree.path(tree.leaves["b"])] == [1, 3, 9]
    for sequences in ({"a": [1, 2], "b": [1, 2, 3]}, {"a": [1, 2, 3], "b": [1, 2]}):
        with pytest.raises(ValueError):
            ReplyTree(sequences)


@pytest.mark.parametrize("system", [None, "You play Crafter. Unlock achievements and survive."])
def test_one_forward_pass_ranks_replies_like_separate_passes(tiny, system: str | None) -> None:
    model, tokenizer = tiny
    policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(system_prompt=system, observation_format="compact"))
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        turns = turns_for([0, 1, 2])
        for turn in turns:
            policy.begin_episode(turn.episode_id, turn.seed)
        first = asyncio.run(policy.decide(turns))
        second = asyncio.run(policy.decide(turns_for([0, 1, 2], t=1)))
    finally:
        handle.remove()
    cached_prefix = 1 if policy.scorer.prefix else 0
    assert len(calls) == cached_prefix + 2  # the shared prefix once, then one pass per step for all three episodes
    assert len(first) == len(second) == 3 and all(d.valid for d in first)

    prompts = [policy.prompt_ids(turn) for turn in turns]
    best, scores = policy.scorer.best(prompts)
    # Checked against the reference on the shortest and the longest prompt: the padding of the batch is exercised.
    order = sorted(range(3), key=lambda i: len(prompts[i]))
    for index in (order[0], order[-1]):
        prompt, row, choice, decision = prompts[index], scores[index], best[index], first[index]
        reference = plain_scores(model, tokenizer, prompt)
        assert max(abs(reference[name] - row[name]) for name in ACTIONS) < 1e-4
        assert choice == max(reference, key=reference.__getitem__) == decision.actions[0]
        assert decision.response == f"Action: {choice}"


@pytest.mark.parametrize("autocast", [False, True])
def test_the_cached_prefix_gives_the_decisions_of_whole_prompts(tiny, autocast: bool) -> None:
    model, tokenizer = tiny
    system = "You play Crafter. Unlock achievements and survive."
    policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(system_prompt=system, history=1),
                         cpu_bf16_autocast=autocast)
    assert policy.scorer.prefix
    seeds = [0, 1, 2, 3]
    for seed in seeds:
        policy.begin_episode(f"seed-{seed}", seed)
    for t in range(3):  # later steps carry an earlier turn: prompts of different lengths
        prompts = [policy.prompt_ids(turn) for turn in turns_for(seeds, t)]
        cached, cached_scores = policy.scorer.best(prompts)
        whole, whole_scores = policy.scorer.best(prompts, cached_prefix=False)
        assert cached == whole
        tolerance = 0.05 if autocast else 1e-4
        pairs = zip(cached_scores, whole_scores, strict=True)
        assert all(abs(a[name] - b[name]) < tolerance for a, b in pairs for name in ACTIONS)
        asyncio.run(policy.decide(turns_for(seeds, t)))


def test_the_tree_feeds_only_inner_nodes(tiny) -> None:
    model, tokenizer = tiny
    scorer = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt()).scorer
    leaves = set(scorer.tree.leaves.values())
    assert len(scorer.inputs) == len(scorer.tree.nodes) - len(leaves) and not leaves & set(scorer.inputs)


def test_earlier_turns_are_shown_as_the_student_was_trained(tiny) -> None:
    model, tokenizer = tiny
    policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(history=1, observation_format="compact"))
    turns = turns_for([4])
    policy.begin_episode("seed-4", 4)
    decision = asyncio.run(policy.decide(turns))[0]
    later = turns_for([4], t=1)[0]
    messages = policy.messages(later)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == turns[0].observation and messages[1]["content"] == decision.response
    policy.end_episode("seed-4")
    assert len(policy.messages(later)) == 1


def test_generate_mode_reads_free_text_replies(tiny) -> None:
    model, tokenizer = tiny
    policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(with_thoughts=True), decode="generate",
                         max_new_tokens=6)
    turns = turns_for([0, 1])
    for turn in turns:
        policy.begin_episode(turn.episode_id, turn.seed)
    decisions = asyncio.run(policy.decide(turns))
    assert len(decisions) == 2
    for decision in decisions:
        # A random tiny model rarely writes an action: what it wrote is kept, and an unreadable reply is invalid.
        assert decision.response is not None
        assert decision.valid or (decision.actions == ["noop"] and decision.invalid_reason)


def test_a_temperature_samples_from_the_replies_likelihoods_seeded_per_episode(tiny) -> None:
    model, tokenizer = tiny
    greedy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt())
    scores = {"noop": -0.1, "do": -0.2, "sleep": -6.0}
    greedy.begin_episode("e", 7)
    assert {greedy.choose("e", scores) for _ in range(50)} == {"noop"}

    def draws(seed: int, temperature: float) -> list[str]:
        policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(), temperature=temperature)
        policy.begin_episode("e", seed)
        return [policy.choose("e", scores) for _ in range(400)]

    first = draws(7, 1.0)
    assert first == draws(7, 1.0)  # the episode's seed fixes its draws: an evaluation is repeatable
    assert first != draws(8, 1.0)
    # exp(-0.1) : exp(-0.2) : exp(-6.0) ~ 0.52 : 0.47 : 0.001
    assert 150 < first.count("noop") < 260 and 140 < first.count("do") < 250 and first.count("sleep") <= 5
    # A low temperature sharpens the same scores toward the most likely reply.
    assert draws(7, 0.02).count("noop") > 380


def test_a_sampling_policy_plays_only_actions_it_scored(tiny) -> None:
    model, tokenizer = tiny
    policy = LocalPolicy("local:tiny", model, tokenizer, StudentPrompt(), temperature=1.0)
    turns = turns_for([0, 1, 2])
    for turn in turns:
        policy.begin_episode(turn.episode_id, turn.seed)
    decisions = asyncio.run(policy.decide(turns))
    assert all(d.valid and d.actions[0] in ACTIONS for d in decisions)
