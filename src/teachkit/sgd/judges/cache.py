"""Judge results in SQLite, committed as each one arrives, so that a killed run keeps what it paid for."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from teachkit.records import Sample
from teachkit.sgd.judges.judgement import Judgement


def sample_digest(sample: Sample) -> str:
    """A hash of what the judge reads from a sample, so a recompiled sample under the same id is scored anew."""
    document = sample.model_dump(mode="json", include={"prompt", "ground_truth", "system_actions",
                                                        "service_results", "task_description", "rubric"})
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def digest(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ScoreCache:
    """Judge scores in SQLite, keyed by judge, template version, sample and response.

    Every score is committed as soon as it is known, so a run killed mid-training keeps what it paid for.
    Failures are not stored: a resumed run asks again. The group and pairwise judges keep their answers (a group's
    scores, a verdict) in the same file under keys of their own (`record_key`, `get_record`, `put_record`).
    """

    def __init__(self, path: Path):
        from sqlitedict import SqliteDict

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = SqliteDict(str(self.path), tablename="scores", autocommit=True, journal_mode="WAL",
                              encode=json.dumps, decode=json.loads, outer_stack=False)

    @staticmethod
    def key(*, judge: str, template_version: str, sample: Sample, response: str, options: dict[str, Any]) -> str:
        return digest({
            "v": 1, "judge": judge, "template": template_version, "options": options, "sample_id": sample.id,
            "sample": sample_digest(sample), "response": response,
        })

    @staticmethod
    def record_key(*, form: str, judge: str, template_version: str, sample: Sample, options: dict[str, Any],
                   **shown: Any) -> str:
        """The key of a group's or a pair's answer: everything the judge saw (`shown`: the replies as shown)."""
        return digest({
            "v": 1, "form": form, "judge": judge, "template": template_version, "options": options,
            "sample_id": sample.id, "sample": sample_digest(sample), **shown,
        })

    def get_record(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._db.get(key)

    def put_record(self, key: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._db[key] = record

    def get(self, key: str) -> Judgement | None:
        with self._lock:
            value = self._db.get(key)
        if value is None:
            return None
        return Judgement(score=float(value["score"]), reasons=value.get("reasons", ""), from_cache=True)

    def put(self, key: str, judgement: Judgement, *, sample_id: str = "", response: str = "") -> None:
        # The sample id and response are kept beside the score for people inspecting the file; the key is a hash.
        with self._lock:
            self._db[key] = {"score": judgement.score, "reasons": judgement.reasons, "sample_id": sample_id,
                             "response": response}

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._db.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()
