"""JSONL on disk: streaming reads with `file:line` errors, atomic writes, and resumable appends."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from teachkit.errors import InputError

T = TypeVar("T", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic error as `field.path: problem`."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(record)"
    message = first["msg"]
    if first["type"] == "missing":
        message = "missing field"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    return f"{loc}: {message}"


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; a last line without newline is reported as truncated."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a .jsonl file")
    with path.open("r", encoding="utf-8", newline="\n") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if not line.endswith("\n"):
                    try:
                        json.loads(line)
                    except json.JSONDecodeError:
                        raise InputError(
                            f"{path}:{number}: truncated last line (the writer was interrupted); "
                            "rerun the stage with --resume, or delete that line"
                        ) from None
                yield number, line
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text file; expected JSON Lines") from None


def read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line parsed as a JSON object, with its line number."""
    for number, line in iter_lines(path):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not valid JSON ({error.msg}); expected one JSON object per line") from None
        if not isinstance(value, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, found {type(value).__name__}")
        yield number, value


def read_records(path: Path, model: type[T]) -> Iterator[T]:
    """Stream typed records; the first bad line stops with `file:line: field: problem`."""
    for number, line in iter_lines(path):
        try:
            yield model.model_validate_json(line)
        except ValidationError as error:
            if error.errors()[0]["type"] == "json_invalid":
                raise InputError(
                    f"{path}:{number}: not valid JSON; expected one {model.__name__} record per line"
                ) from None
            raise InputError(f"{path}:{number}: {describe_validation_error(error)}") from None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while streaming many parsed records.

    Parsed records (episodes, dialogues) hold no reference cycles, so reference counting frees them anyway, while
    each collection rescans the hundreds of thousands of live objects a large record makes: a quarter of the time
    of a filter, format or compile run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file beside `path` and rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file 0600; outputs should get the usual permissions a plain open() would give.
    os.chmod(tmp, 0o666 & ~UMASK)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not safe once threads run.
UMASK = current_umask()


def write_records(path: Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Atomically write records (models or plain dicts) as JSONL; returns the count."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(dump_line(record))
            count += 1
    return count


def dump_line(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json() + "\n"
    return json.dumps(record, ensure_ascii=False) + "\n"


class ResumableAppender:
    """Appends records to a JSONL file one line at a time, so a killed run loses at most the line in flight.

    With `resume=True` an existing file is kept: a torn last line (no newline) is cut off with a warning, and
    `done_ids` holds the ids already written so the caller skips them. Without it an existing non-empty file is an
    error rather than silently overwritten.
    """

    def __init__(
        self,
        path: Path,
        model: type[T],
        *,
        resume: bool,
        overwrite: bool = False,
        key: Callable[[Any], str] = lambda record: record.id,
        warn: Callable[[str], None] | None = None,
    ):
        self.path = Path(path)
        self.model = model
        self.key = key
        self.done_ids: set[str] = set()
        self.recovered_torn_line = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not resume and not overwrite:
            raise InputError(
                f"{self.path}: already exists; add --resume to continue it, or --overwrite to start again"
            )
        if exists and resume:
            self._recover(warn)
            for record in read_records(self.path, model):
                self.done_ids.add(key(record))
        elif exists and overwrite:
            self.path.unlink()
        self._handle = self.path.open("a", encoding="utf-8")

    def _recover(self, warn: Callable[[str], None] | None) -> None:
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        with self.path.open("r+b") as handle:
            handle.truncate(keep)
        self.recovered_torn_line = True
        if warn:
            warn(f"{self.path}: dropped a torn last line left by an interrupted run ({len(data) - keep} bytes)")

    def append(self, record: BaseModel) -> None:
        self._handle.write(dump_line(record))
        self._handle.flush()
        self.done_ids.add(self.key(record))

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> ResumableAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
