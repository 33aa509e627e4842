"""The example corpus (teachkit/data/sgd_example, written by examples/sgd/make_corpus.py): reproducible from its
script, and shaped like the real dataset."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

from teachkit.data import example_sgd_root
from teachkit.sgd.reader import SPLITS, check_dialogue, read_schema

EXAMPLES = example_sgd_root()
MAKE_CORPUS = Path(__file__).resolve().parents[2] / "examples" / "sgd" / "make_corpus.py"
SYSTEM_ACTS = {
    "INFORM", "REQUEST", "CONFIRM", "OFFER", "NOTIFY_SUCCESS", "NOTIFY_FAILURE", "INFORM_COUNT", "OFFER_INTENT",
    "REQ_MORE", "GOODBYE",
}


def load_generator():
    spec = importlib.util.spec_from_file_location("make_corpus", MAKE_CORPUS)
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the class is built.
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    return module


def corpus_files(root: Path) -> list[Path]:
    return sorted(path.relative_to(root) for path in root.rglob("*.json"))


def test_the_script_reproduces_the_committed_corpus_byte_for_byte(tmp_path: Path) -> None:
    load_generator().main(["--out", str(tmp_path)])
    assert corpus_files(tmp_path) == corpus_files(EXAMPLES)
    for relative in corpus_files(EXAMPLES):
        assert (tmp_path / relative).read_bytes() == (EXAMPLES / relative).read_bytes(), (
            f"{relative} differs: regenerate with `python examples/sgd/make_corpus.py` and commit it"
        )


def test_the_script_scales_into_any_folder(tmp_path: Path) -> None:
    load_generator().main(["--out", str(tmp_path), "--train", "30", "--dev", "0", "--test", "0", "--per-file", "8"])
    files = sorted((tmp_path / "train").glob("dialogues_*.json"))
    assert [f.name for f in files] == [f"dialogues_{n:03d}.json" for n in range(1, 5)]
    assert sum(len(json.loads(f.read_text())) for f in files) == 30
    assert not (tmp_path / "dev").exists()


def test_the_corpus_has_what_the_pipeline_needs() -> None:
    system_turns = 0
    acts: Counter[str] = Counter()
    calls = 0
    services: set[str] = set()
    for split in SPLITS:
        schema = read_schema(EXAMPLES, split)
        assert len(schema) >= 3
        for path in sorted((EXAMPLES / split).glob("dialogues_*.json")):
            for dialogue in json.loads(path.read_text()):
                assert check_dialogue(dialogue, schema, split) is None
                assert dialogue["turns"][-1]["speaker"] == "SYSTEM"
                services.update(dialogue["services"])
                for turn in dialogue["turns"]:
                    if turn["speaker"] != "SYSTEM":
                        continue
                    system_turns += 1
                    frame = turn["frames"][0]
                    acts.update(action["act"] for action in frame["actions"])
                    for action in frame["actions"]:
                        # What the reference turn offers, informs or confirms, it says.
                        if action["act"] in {"OFFER", "CONFIRM", "INFORM_COUNT"}:
                            assert action["values"][0] in turn["utterance"], (dialogue["dialogue_id"], action)
                    if "service_call" in frame:
                        calls += 1
                        intent = schema[frame["service"]].intents[frame["service_call"]["method"]]
                        assert set(intent.required_slots) <= set(frame["service_call"]["parameters"])
                        assert isinstance(frame["service_results"], list)
    assert len(services) >= 3
    assert system_turns >= 300
    assert SYSTEM_ACTS <= set(acts)
    assert calls >= system_turns // 8
