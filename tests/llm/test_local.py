"""The local provider on the tiny random Llama of `tiny_model_dir`: batching, chat template, shared loading."""

import shutil

import pytest
from transformers import AutoTokenizer

from teachkit.llm import Message, ModelRequest, open_client
from teachkit.llm import local as local_module
from teachkit.llm.local import LocalProvider
from teachkit.students.chat_template import ChatRules
from tests.llm.llm_helpers import ask, batch, fast_settings, run

GEMMA_LIKE = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_concurrent_requests_are_batched_and_answered_in_order(tiny_model_dir, tmp_path, monkeypatch):
    calls = []
    original = LocalProvider._generate_batch

    def counting(self, requests):
        calls.append([r.temperature for r in requests])
        return original(self, requests)

    monkeypatch.setattr(LocalProvider, "_generate_batch", counting)
    client = open_client(f"local:{tiny_model_dir}", fast_settings(tmp_path, "judge", concurrency=4), role="judge",
                         use_cache=False)
    requests = [
        ModelRequest(messages=[Message(role="system", content="Be brief."), Message(role="user", content=f"tree {i}")],
                     max_output_tokens=6, temperature=0.0 if i < 5 else 1.0)
        for i in range(7)
    ]
    results = run(batch(client, requests))
    # The first four (greedy) share one generate call; a batch never mixes generation options.
    assert calls[0] == [0.0] * 4 and sum(len(c) for c in calls) == 7
    assert all(len(set(c)) == 1 and len(c) <= 4 for c in calls)
    assert all(r.provider == "local" and r.usage.prompt > 0 and 0 < r.usage.output <= 6 for r in results)
    assert all(r.finish_reason in {"stop", "length"} for r in results)
    summary = client.ledger.summary()
    assert summary["requests"] == 7 and summary["cost_usd"] == 0.0 and client.timeout_s is None


def test_greedy_replies_are_deterministic_and_cached_by_weights(tiny_model_dir, tmp_path):
    settings = fast_settings(tmp_path)
    first = run(batch(open_client(f"local:{tiny_model_dir}", settings), [ask("wood", max_output_tokens=5)]))[0]
    client = open_client(f"local:{tiny_model_dir}", settings)
    second = run(batch(client, [ask("wood", max_output_tokens=5)]))[0]
    assert second.from_cache and second.text == first.text
    # A retrained checkpoint in the same folder is another model for the cache.
    copy = tmp_path / "student"
    shutil.copytree(tiny_model_dir, copy)
    assert LocalProvider(str(copy), settings).cache_variant != client.provider.cache_variant


def test_the_model_is_loaded_once_per_process(tiny_model_dir, tmp_path):
    settings = fast_settings(tmp_path)
    before = len(local_module._LOADED)
    for _ in range(2):
        run(batch(open_client(f"local:{tiny_model_dir}", settings, use_cache=False), [ask("hi", max_output_tokens=2)]))
    assert len(local_module._LOADED) - before <= 1
    assert any(key[0] == str(tiny_model_dir) for key in local_module._LOADED)


def test_a_template_without_system_role_gets_the_system_text_in_the_first_user_turn(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert ChatRules.detect(tokenizer).system_role
    tokenizer.chat_template = GEMMA_LIKE
    rules = ChatRules.detect(tokenizer)
    assert not rules.system_role
    messages = [{"role": "system", "content": "Rules."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Go"}]
    folded = rules.fit(messages)
    assert folded[0] == {"role": "user", "content": "Rules.\n\nHi"} and len(folded) == 3
    rendered = tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<start_of_turn>user\nRules.")
    assert ChatRules(system_role=True, alternation_required=False).fit(messages)[0]["role"] == "system"


def test_a_missing_checkpoint_fails_before_any_work(tmp_path):
    from teachkit.errors import InputError

    with pytest.raises(InputError, match="no such directory"):
        open_client("local:./runs/nothing-here", fast_settings(tmp_path))
