"""Read an SGD folder: the schema of each split, and its dialogues file by file.

Dialogues stay plain dicts as `json.load` gives them: compiling a split of 16,000 dialogues must cost little more
than parsing it, and a model object per turn, frame and action would cost several times the parse. Each dialogue is
checked for what compile relies on (alternating speakers from USER, frames on every turn, known services) before it
is handed out, so a bad one is reported with its file and id instead of failing somewhere later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.errors import InputError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class IntentSchema:
    name: str
    description: str
    required_slots: tuple[str, ...]
    optional_slots: tuple[str, ...]
    is_transactional: bool


@dataclass(frozen=True)
class ServiceSchema:
    name: str
    description: str
    intents: dict[str, IntentSchema]

    @property
    def domain(self) -> str:
        return domain_of(self.name)


def domain_of(service: str) -> str:
    """`Restaurants_1` -> `Restaurants`: SGD names services `<Domain>_<n>`."""
    return service.split("_", 1)[0]


@dataclass
class BadDialogue:
    """A dialogue (or a whole file, when `dialogue_id` is None) that cannot be compiled, and why."""

    path: Path
    dialogue_id: str | None
    problem: str

    def describe(self) -> str:
        where = f"dialogue {self.dialogue_id}" if self.dialogue_id is not None else "whole file"
        return f"{self.path}: {where}: {self.problem}"


@dataclass
class ReadReport:
    """What a read saw: files, dialogues handed out, and the bad ones skipped (with --skip-bad)."""

    files: list[Path] = field(default_factory=list)
    dialogues: int = 0
    bad: list[BadDialogue] = field(default_factory=list)


def read_schema(root: Path, split: str) -> dict[str, ServiceSchema]:
    path = Path(root) / split / "schema.json"
    if not path.is_file():
        hint = "run `teachkit sgd download`, or point --sgd-root at the dstc8-schema-guided-dialogue folder"
        if not (Path(root) / split).is_dir():
            raise InputError(f"{Path(root) / split}: no such split folder; {hint}")
        raise InputError(f"{path}: missing schema.json; every split folder needs one ({hint})")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a JSON list of services, found {type(entries).__name__}")
    services: dict[str, ServiceSchema] = {}
    for number, entry in enumerate(entries):
        try:
            intents = {
                item["name"]: IntentSchema(
                    name=item["name"],
                    description=item.get("description", ""),
                    required_slots=tuple(item.get("required_slots", ())),
                    optional_slots=tuple(item.get("optional_slots", {})),
                    is_transactional=bool(item.get("is_transactional", False)),
                )
                for item in entry.get("intents", [])
            }
            service = ServiceSchema(entry["service_name"], entry.get("description", ""), intents)
        except (KeyError, TypeError, AttributeError) as error:
            raise InputError(f"{path}: service #{number}: missing or malformed field {error}") from None
        services[service.name] = service
    return services


def dialogue_files(root: Path, split: str) -> list[Path]:
    folder = Path(root) / split
    files = sorted(folder.glob("dialogues_*.json"))
    if not files:
        raise InputError(f"{folder}: no dialogues_*.json files; is this an SGD split folder?")
    return files


def select_services(
    schemas: dict[str, dict[str, ServiceSchema]],
    services: Iterable[str] = (),
    domains: Iterable[str] = (),
) -> set[str] | None:
    """The service names matching `--services` / `--domains` (case-insensitive), or None for all of them.

    A name that matches nothing in any chosen split is an error: a typo would otherwise compile nothing.
    """
    services, domains = list(services), list(domains)
    if not services and not domains:
        return None
    known = {name for split_schema in schemas.values() for name in split_schema}
    by_lower = {name.lower(): name for name in known}
    chosen: set[str] = set()
    for name in services:
        if name.lower() not in by_lower:
            raise InputError(f"--services {name}: not a service of the chosen splits (known: {', '.join(sorted(known))})")
        chosen.add(by_lower[name.lower()])
    known_domains = {domain_of(name).lower() for name in known}
    for domain in domains:
        if domain.lower() not in known_domains:
            shown = ", ".join(sorted({domain_of(name) for name in known}))
            raise InputError(f"--domains {domain}: not a domain of the chosen splits (known: {shown})")
        chosen.update(name for name in known if domain_of(name).lower() == domain.lower())
    return chosen


def check_dialogue(dialogue: Any, schema: dict[str, ServiceSchema], split: str) -> str | None:
    """What is wrong with one dialogue for compile, or None: the first problem, in words."""
    if not isinstance(dialogue, dict):
        return f"expected a dialogue object, found {type(dialogue).__name__}"
    if not isinstance(dialogue.get("dialogue_id"), str):
        return "missing dialogue_id"
    services = dialogue.get("services", [])
    if not isinstance(services, list) or not all(isinstance(name, str) for name in services):
        return "services is not a list of service names"
    turns = dialogue.get("turns")
    if not isinstance(turns, list) or not turns:
        return "no turns"
    for index, turn in enumerate(turns):
        problem = _check_turn(index, turn, schema, split)
        if problem is not None:
            return f"turn {index}{problem}"
    return None


def _check_turn(index: int, turn: Any, schema: dict[str, ServiceSchema], split: str) -> str | None:
    if not isinstance(turn, dict):
        return ": expected an object"
    if "speaker" not in turn:
        return ": missing speaker"
    expected = "USER" if index % 2 == 0 else "SYSTEM"
    speaker = turn["speaker"]
    if speaker != expected:
        return f": speaker {speaker} where {expected} was expected; speakers must alternate, starting with USER"
    if not isinstance(turn.get("utterance"), str):
        return ": missing utterance"
    frames = turn.get("frames")
    if not isinstance(frames, list) or not frames:
        return f" ({speaker}): no frames"
    for frame in frames:
        if not isinstance(frame, dict):
            return ": a frame is not an object"
        service = frame.get("service")
        if service not in schema:
            return f": service {service!r} is not in {split}/schema.json"
        actions = frame.get("actions")
        if not isinstance(actions, list) or not all(
            isinstance(item, dict) and isinstance(item.get("act"), str) for item in actions
        ):
            return f": frame of {service} has no actions list (objects with an act)"
        if "state" in frame and not isinstance(frame["state"], dict):
            return f": frame of {service}: state is not an object"
        if "service_call" in frame:
            call = frame["service_call"]
            if not isinstance(call, dict) or not isinstance(call.get("method"), str) or not isinstance(
                call.get("parameters", {}), dict
            ):
                return f": frame of {service}: service_call needs a method and a parameters object"
            results = frame.get("service_results", [])
            if not isinstance(results, list) or not all(isinstance(item, dict) for item in results):
                return f": frame of {service}: service_results is not a list of objects"
    return None


def iter_dialogue_files(
    root: Path, split: str, *, skip_bad: bool = False, report: ReadReport | None = None
) -> Iterator[tuple[Path, list[Any]]]:
    """Each dialogues file of a split, parsed: (path, its JSON list). One file in memory at a time.

    A file that is not a JSON list raises InputError naming it, or with `skip_bad` is recorded and skipped.
    """
    report = report if report is not None else ReadReport()
    for path in dialogue_files(root, split):
        report.files.append(path)
        try:
            with path.open("rb") as handle:
                dialogues = json.load(handle)
        except json.JSONDecodeError as error:
            problem = f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
            skip_or_raise(report, BadDialogue(path, None, problem), skip_bad)
            continue
        except UnicodeDecodeError:
            skip_or_raise(report, BadDialogue(path, None, "not a UTF-8 JSON file"), skip_bad)
            continue
        if not isinstance(dialogues, list):
            problem = f"expected a JSON list of dialogues, found {type(dialogues).__name__}"
            skip_or_raise(report, BadDialogue(path, None, problem), skip_bad)
            continue
        yield path, dialogues


def dialogue_name(dialogue: Any, number: int) -> str:
    """The dialogue's id, or its position in the file when it has none."""
    dialogue_id = dialogue.get("dialogue_id") if isinstance(dialogue, dict) else None
    return dialogue_id if isinstance(dialogue_id, str) else f"#{number}"


def iter_dialogues(
    root: Path,
    split: str,
    schema: dict[str, ServiceSchema],
    *,
    services: set[str] | None = None,
    skip_bad: bool = False,
    report: ReadReport | None = None,
) -> Iterator[dict[str, Any]]:
    """The checked dialogues of one split, one file in memory at a time.

    `services` keeps the dialogues that involve at least one of them. A bad dialogue (or a file that is not JSON)
    raises InputError naming the file and dialogue id, or with `skip_bad` is recorded in `report.bad` and skipped.
    """
    report = report if report is not None else ReadReport()
    for path, dialogues in iter_dialogue_files(root, split, skip_bad=skip_bad, report=report):
        for number, dialogue in enumerate(dialogues):
            problem = check_dialogue(dialogue, schema, split)
            if problem is not None:
                skip_or_raise(report, BadDialogue(path, dialogue_name(dialogue, number), problem), skip_bad)
                continue
            if services is not None and services.isdisjoint(dialogue.get("services") or _frame_services(dialogue)):
                continue
            report.dialogues += 1
            yield dialogue


def _frame_services(dialogue: dict[str, Any]) -> set[str]:
    return {frame["service"] for turn in dialogue["turns"] for frame in turn["frames"]}


def skip_or_raise(report: ReadReport, bad: BadDialogue, skip_bad: bool) -> None:
    """Stop on a bad dialogue with an InputError naming file and dialogue, or record it when skipping."""
    if not skip_bad:
        raise InputError(f"{bad.describe()}; fix or remove it, or pass --skip-bad to skip bad dialogues")
    report.bad.append(bad)
