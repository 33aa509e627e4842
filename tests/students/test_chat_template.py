"""Chat templates probed by rendering, conversations fitted to them, and ChatML with a working EOS."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from teachkit.errors import InputError
from teachkit.students.chat_template import (
    CHATML,
    IM_END,
    IM_START,
    ChatRules,
    StudentChat,
    end_of_turn_ids,
    ensure_chat_template,
)
from tests.conftest import train_bpe

# A template that ignores system messages without complaint.
DROPS_SYSTEM_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'] + ': ' + message['content']"
    " + '\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
)
CONVERSATION = [{"role": "system", "content": "Rules."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Go"}]


def test_rules_are_detected_by_rendering(tiny_model_dir, tiny_gemma2_dir) -> None:
    chatml = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert ChatRules.detect(chatml) == ChatRules(system_role=True, alternation_required=False)
    gemma = AutoTokenizer.from_pretrained(tiny_gemma2_dir)
    assert ChatRules.detect(gemma) == ChatRules(system_role=False, alternation_required=True)
    chatml.chat_template = DROPS_SYSTEM_TEMPLATE
    assert ChatRules.detect(chatml) == ChatRules(system_role=False, alternation_required=False)
    chatml.chat_template = None
    with pytest.raises(InputError, match="my-model: its tokenizer has no chat template"):
        ChatRules.detect(chatml, "my-model")


def test_the_system_turn_is_folded_and_turns_of_one_role_merged_for_gemma(tiny_gemma2_dir) -> None:
    from jinja2.exceptions import TemplateError

    chat = StudentChat(AutoTokenizer.from_pretrained(tiny_gemma2_dir))
    with pytest.raises(TemplateError, match="System role not supported"):
        chat.tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert chat.messages(CONVERSATION) == [{"role": "user", "content": "Rules.\n\nHi"},
                                           {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "Go"}]
    text = chat.text(CONVERSATION, generation_prompt=True)
    assert text.startswith("<bos><start_of_turn>user\nRules.\n\nHi<end_of_turn>")
    assert text.endswith("<start_of_turn>model\n")
    # Two user turns in a row (a service message beside the user turn) become one.
    doubled = [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert chat.messages(doubled) == [{"role": "user", "content": "S\n\na\n\nb"}]
    assert ChatRules(system_role=False, alternation_required=False).fit(doubled[:1]) == [
        {"role": "user", "content": "S"}]
    # A template with a system role keeps the conversation as it is.
    assert ChatRules(system_role=True, alternation_required=False).fit(CONVERSATION) == CONVERSATION


def test_gemma_replies_end_at_end_of_turn(tiny_gemma2_dir) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_gemma2_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_gemma2_dir)
    ids = {tokenizer.convert_tokens_to_ids("<eos>"), tokenizer.convert_tokens_to_ids("<end_of_turn>")}
    assert end_of_turn_ids(model, tokenizer) == ids


def no_template_checkpoint(folder):
    """A tiny Llama whose tokenizer knows neither a chat template nor ChatML's tokens (a base model)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(["<|endoftext|>"]), eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                                         tie_word_embeddings=False))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_chatml_registers_its_tokens_and_generation_stops_at_im_end(tmp_path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    folder = no_template_checkpoint(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    old_eos, vocabulary = tokenizer.eos_token_id, len(tokenizer)
    assert ensure_chat_template(tokenizer, model) and not ensure_chat_template(tokenizer, model)
    assert tokenizer.chat_template == CHATML and tokenizer.eos_token == IM_END
    assert len(tokenizer) == vocabulary + 2 == model.get_input_embeddings().num_embeddings
    im_start, im_end = tokenizer.convert_tokens_to_ids(IM_START), tokenizer.convert_tokens_to_ids(IM_END)
    text = StudentChat(tokenizer).text([{"role": "user", "content": "hi"}], generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids.count(im_start) == 2 and ids.count(im_end) == 1  # one token each, never split
    assert tokenizer.pad_token_id == old_eos != im_end  # a pad equal to EOS would hide the end from the loss
    assert model.generation_config.eos_token_id == [im_end, old_eos]

    # A model that writes <|im_end|> second: generation stops there, where the old EOS alone ran to the limit.
    head = torch.nn.Linear(16, len(tokenizer), bias=True)
    head.weight.data.zero_()
    model.lm_head = head
    prompt = torch.tensor([ids])

    word = tokenizer("tree", add_special_tokens=False)["input_ids"][0]

    def generate(**options):
        head.bias.data.zero_()
        head.bias.data[word] = 10.0
        steps = []

        def after_first(module, args, output):
            steps.append(1)
            if len(steps) == 1:  # from the second new token on
                head.bias.data[im_end] = 20.0
        handle = head.register_forward_hook(after_first)
        try:
            with torch.no_grad():
                return model.generate(prompt, max_new_tokens=10, do_sample=False, **options)[0, len(ids):].tolist()
        finally:
            handle.remove()

    assert generate() == [word, im_end]
    assert len(generate(eos_token_id=old_eos)) == 10
