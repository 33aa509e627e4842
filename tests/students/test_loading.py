"""The one loader: checkpoints for training and generation, adapters merged into their base, ChatML added."""

from __future__ import annotations

import pytest
import torch

from teachkit.errors import InputError
from teachkit.records import TrainedModel
from teachkit.settings import load_settings
from teachkit.students.artifacts import write_record
from teachkit.students.chat_template import CHATML, IM_END
from teachkit.students.loading import load_student
from tests.students.test_chat_template import no_template_checkpoint


@pytest.fixture
def settings(tmp_path):
    return load_settings(None, {"paths.cache_dir": str(tmp_path / "cache")})


def test_load_for_generation_and_for_training(settings, tiny_model_dir) -> None:
    student = load_student(str(tiny_model_dir), settings)
    assert student.tokenizer.padding_side == "left" and student.tokenizer.pad_token is not None
    assert student.model.dtype == torch.float32 and student.model.device.type == "cpu" and not student.model.training
    assert not student.chatml_added and student.record is None and student.path == str(tiny_model_dir.resolve())
    student = load_student(str(tiny_model_dir), settings, for_training=True, dtype="bf16")
    assert student.tokenizer.padding_side == "right" and student.model.training
    assert student.model.dtype == torch.bfloat16
    with pytest.raises(InputError, match="no such directory"):
        load_student("./runs/missing", settings)


def test_an_adapter_is_merged_into_the_base_its_record_names(settings, tiny_gemma2_dir, tmp_path) -> None:
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teachkit.students.lora import lora_config

    torch.manual_seed(2)
    adapted = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_gemma2_dir), lora_config(4))
    for name, parameter in adapted.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.5)
    folder = tmp_path / "student"
    adapted.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_gemma2_dir).save_pretrained(folder)
    write_record(folder, TrainedModel(method="sft-lora", base_model="gemma", base_model_path=str(tiny_gemma2_dir)))

    student = load_student(str(folder), settings)
    assert student.loaded == f"{folder} (adapter on {tiny_gemma2_dir})" and student.record.method == "sft-lora"
    assert not hasattr(student.model, "peft_config")  # merged: a plain model
    ids = torch.tensor([[2, 5, 6, 7]])
    with torch.no_grad():
        expected = adapted.merge_and_unload()(ids).logits
        assert torch.allclose(student.model(ids).logits, expected, atol=1e-5)
    # A base named explicitly wins over the record (sgd eval --base-model).
    with pytest.raises(InputError, match="could not be loaded|no such directory"):
        load_student(str(folder), settings, base="./elsewhere")


def test_a_base_model_without_a_template_gets_chatml(settings, tmp_path) -> None:
    folder = no_template_checkpoint(tmp_path / "base")
    student = load_student(str(folder), settings)
    assert student.chatml_added and student.tokenizer.chat_template == CHATML
    im_end = student.tokenizer.convert_tokens_to_ids(IM_END)
    assert student.tokenizer.eos_token_id == im_end == student.model.generation_config.eos_token_id[0]
    assert student.model.get_input_embeddings().num_embeddings == len(student.tokenizer)
