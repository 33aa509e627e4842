"""Fixtures shared across the suite: tiny chat models built here (no hub), and isolation from the user's setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma 2's chat template as google/gemma-2-2b-it ships it (tokenizer_config.json): no system role, strict
# user/model alternation.
GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

TOKENIZER_CORPUS = [
    "You play Crafter. Action: move_left move_right move_up move_down do noop sleep place_stone place_table",
    "place_furnace place_plant make_wood_pickaxe make_stone_pickaxe make_iron_pickaxe make_wood_sword",
    "make_stone_sword make_iron_sword health food drink energy wood stone coal iron diamond sapling tree water",
    "grass sand path lava table furnace zombie skeleton cow plant arrow north south east west step steps",
    "Hello, how can I help you today? I booked a table for two at 7 pm. Your reservation is confirmed.",
    "Which city are you looking in? There are 3 restaurants. Goodbye! Is there anything else?",
    "0 1 2 3 4 5 6 7 8 9 10 : / , . ! ? ( ) [ ] { } \" ' - _ = + * # @ < > |",
]


def train_bpe(specials: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(TOKENIZER_CORPUS * 4, trainer=trainer)
    return tokenizer


def build_tiny_tokenizer():
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama (about 40k parameters) with a ChatML tokenizer, saved like any local checkpoint."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_gemma2_tokenizer():
    """Gemma 2's special tokens and chat template on a small BPE vocabulary; EOS is `<eos>` as in gemma-2-2b-it,
    whose turns end with `<end_of_turn>` (its generation config stops at both)."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_bpe(["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )
    fast.chat_template = GEMMA2_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def tiny_gemma2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma 2 (Gemma2ForCausalLM: soft-capping, sliding-window layers) with Gemma 2's chat template."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    path = tmp_path_factory.mktemp("tiny-gemma2")
    tokenizer = build_gemma2_tokenizer()
    torch.manual_seed(0)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    config = Gemma2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        max_position_embeddings=8192,
        sliding_window=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, end_of_turn],
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Gemma2ForCausalLM(config)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder with no user keys, config or cache leaking in."""
    for name in list(os.environ):
        if name.startswith("TEACHKIT_") or name in {
            "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN", "GOOGLE_CLOUD_PROJECT",
            "GOOGLE_CLOUD_LOCATION",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fake_gemini():
    """A loopback fake of the Gemini REST API (teachkit.testing.FakeGemini), stopped after the test."""
    from teachkit.testing import FakeGemini

    with FakeGemini() as server:
        yield server


@pytest.fixture
def fake_openai():
    """A loopback OpenAI-compatible server (teachkit.testing.FakeOpenAI), stopped after the test."""
    from teachkit.testing import FakeOpenAI

    with FakeOpenAI() as server:
        yield server
