"""Reading an SGD folder: schemas, dialogues file by file, filters, and bad input named by file and dialogue."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from teachkit.data import example_sgd_root
from teachkit.errors import InputError
from teachkit.sgd.reader import (
    ReadReport,
    check_dialogue,
    domain_of,
    iter_dialogues,
    read_schema,
    select_services,
)

EXAMPLES = example_sgd_root()


def copy_split(tmp_path: Path, split: str = "dev") -> Path:
    root = tmp_path / "sgd"
    shutil.copytree(EXAMPLES / split, root / split)
    return root


def first_dialogues(root: Path, split: str = "dev") -> tuple[Path, list[dict]]:
    path = root / split / "dialogues_001.json"
    return path, json.loads(path.read_text())


def test_reads_the_schema_and_every_dialogue_file_by_file() -> None:
    schema = read_schema(EXAMPLES, "train")
    assert {"Restaurants_7", "Dentists_9", "Weather_4", "Trains_5"} <= set(schema)
    assert schema["Restaurants_7"].intents["FindRestaurants"].required_slots == ("city", "cuisine")
    assert schema["Restaurants_7"].domain == "Restaurants"
    report = ReadReport()
    dialogues = list(iter_dialogues(EXAMPLES, "train", schema, report=report))
    expected = sum(len(json.loads(p.read_text())) for p in (EXAMPLES / "train").glob("dialogues_*.json"))
    assert len(dialogues) == report.dialogues == expected
    assert [p.name for p in report.files] == ["dialogues_001.json", "dialogues_002.json"]


def test_a_missing_schema_names_the_file(tmp_path: Path) -> None:
    root = copy_split(tmp_path)
    (root / "dev" / "schema.json").unlink()
    with pytest.raises(InputError, match=r"dev/schema.json: missing schema.json"):
        read_schema(root, "dev")
    with pytest.raises(InputError, match=r"test: no such split folder"):
        read_schema(root, "test")


def break_second_dialogue(root: Path, breaker) -> str:
    path, dialogues = first_dialogues(root)
    breaker(dialogues[1])
    path.write_text(json.dumps(dialogues))
    return dialogues[1]["dialogue_id"]


@pytest.mark.parametrize(
    ("breaker", "problem"),
    [
        (lambda d: d["turns"].insert(1, dict(d["turns"][0])), r"turn 1: speaker USER where SYSTEM was expected"),
        (lambda d: d["turns"][2].update(frames=[]), r"turn 2 \(USER\): no frames"),
        (lambda d: d["turns"][3].pop("frames"), r"turn 3 \(SYSTEM\): no frames"),
        (lambda d: d["turns"][1]["frames"][0].update(service="Ferries_1"),
         r"turn 1: service 'Ferries_1' is not in dev/schema.json"),
        (lambda d: d["turns"][0].pop("speaker"), r"turn 0: missing speaker"),
    ],
)
def test_a_bad_dialogue_names_file_and_dialogue_id(tmp_path: Path, breaker, problem: str) -> None:
    root = copy_split(tmp_path)
    dialogue_id = break_second_dialogue(root, breaker)
    schema = read_schema(root, "dev")
    with pytest.raises(InputError) as raised:
        list(iter_dialogues(root, "dev", schema))
    message = str(raised.value)
    assert f"dialogues_001.json: dialogue {dialogue_id}: " in message
    assert "--skip-bad" in message
    assert re.search(problem, message), message

    report = ReadReport()
    kept = list(iter_dialogues(root, "dev", schema, skip_bad=True, report=report))
    assert [bad.dialogue_id for bad in report.bad] == [dialogue_id]
    assert dialogue_id not in {d["dialogue_id"] for d in kept}
    assert len(kept) == len(first_dialogues(EXAMPLES)[1]) - 1


def test_a_file_that_is_not_json_is_named_and_can_be_skipped(tmp_path: Path) -> None:
    root = copy_split(tmp_path)
    (root / "dev" / "dialogues_002.json").write_text('[{"dialogue_id": "x", "turns": [')
    schema = read_schema(root, "dev")
    with pytest.raises(InputError, match=r"dialogues_002.json: whole file: not valid JSON \(line 1"):
        list(iter_dialogues(root, "dev", schema))
    report = ReadReport()
    kept = list(iter_dialogues(root, "dev", schema, skip_bad=True, report=report))
    assert len(kept) == len(first_dialogues(EXAMPLES)[1])
    assert [(bad.path.name, bad.dialogue_id) for bad in report.bad] == [("dialogues_002.json", None)]


def test_check_dialogue_accepts_the_documented_shape() -> None:
    schema = read_schema(EXAMPLES, "dev")
    _, dialogues = first_dialogues(EXAMPLES)
    assert all(check_dialogue(d, schema, "dev") is None for d in dialogues)
    assert check_dialogue([], schema, "dev") == "expected a dialogue object, found list"
    assert check_dialogue({"dialogue_id": "1", "turns": []}, schema, "dev") == "no turns"


def test_services_and_domains_select_dialogues_case_insensitively() -> None:
    schemas = {"train": read_schema(EXAMPLES, "train")}
    assert select_services(schemas) is None
    assert select_services(schemas, ["weather_4"]) == {"Weather_4"}
    assert select_services(schemas, domains=["restaurants", "Trains"]) == {"Restaurants_7", "Trains_5"}
    with pytest.raises(InputError, match=r"--services Ferries_1: not a service of the chosen splits \(known: "):
        select_services(schemas, ["Ferries_1"])
    with pytest.raises(InputError, match=r"--domains Ferries: not a domain"):
        select_services(schemas, domains=["Ferries"])
    kept = list(iter_dialogues(EXAMPLES, "train", schemas["train"], services={"Trains_5"}))
    assert kept and all("Trains_5" in d["services"] for d in kept)
    assert domain_of("RentalCars_3") == "RentalCars"
