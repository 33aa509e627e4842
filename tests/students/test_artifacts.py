"""The model card and the training record beside a trained model."""

from __future__ import annotations

import json
from pathlib import Path

from teachkit.records import StudentPrompt, TrainedModel
from teachkit.students.artifacts import MERGED_DIR, MODEL_CARD, read_record, training_data, write_record


def test_record_and_card_name_the_data_and_its_manifest(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": []}\n')
    (tmp_path / "train.jsonl.manifest.json").write_text(json.dumps({"inputs": []}))
    pinned = training_data(data, examples=1)
    assert pinned.manifest == str(data) + ".manifest.json" and len(pinned.sha256) == 64
    record = TrainedModel(method="sft-lora", base_model="smollm2-135m", base_model_path="/m", data=[pinned],
                          prompt=StudentPrompt(observation_format="compact", system_prompt="Play."),
                          metrics={"train_loss": 0.5, "first_logged_loss": None, "loss_history": [{"loss": 1}]})
    out = tmp_path / "student"
    out.mkdir()
    write_record(out, record)
    assert read_record(out) == record
    (out / MERGED_DIR).mkdir()
    assert read_record(out / MERGED_DIR) == record  # a merged/ folder finds its parent's record
    assert read_record(tmp_path) is None
    card = (out / MODEL_CARD).read_text()
    assert card.startswith("---\nbase_model: \"smollm2-135m\"\nlibrary_name: peft")
    assert str(data) in card and "train.jsonl.manifest.json" in card
    assert "observation format: compact" in card and "Play." in card
    assert "| train_loss | 0.5 |" in card and "first_logged_loss" not in card and "loss_history" not in card
    assert "teachkit crafter eval --policy" in card
