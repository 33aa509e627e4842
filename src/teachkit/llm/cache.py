"""The response cache: successful replies in SQLite, keyed by a hash of everything that changes the output.

The key covers provider, model, endpoint (without credentials), messages and every generation option, and the
sample index so that N samples of one prompt are N entries. It never covers an API key. Values are JSON (not
pickle: a shared cache file must not be able to run code).

The file is a sqlitedict-compatible table (`key TEXT PRIMARY KEY, value BLOB`, JSON values), read and written with
the standard library's sqlite3 on the caller's thread. sqlitedict itself runs every lookup as a round trip to its
own thread, which on a busy machine cost more than a millisecond a request of a 32-way run (docs/benchmarks.md),
against tens of microseconds here. WAL mode, one commit per write and a busy timeout make the file safe for many
tasks in one process (a lock serialises them) and for several processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from teachkit.llm.base import ModelRequest, ModelResult

CACHE_FILE = "responses.sqlite"
TABLE = "responses"
# Bump when the key or the stored value changes meaning, so old entries are not misread.
KEY_VERSION = 1


def cache_path(cache_dir: Path) -> Path:
    return Path(cache_dir).expanduser() / CACHE_FILE


def endpoint_for_key(base_url: str | None) -> str | None:
    """The endpoint without user info, query or fragment: those may carry credentials."""
    if not base_url:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def request_key(provider: str, model: str, base_url: str | None, request: ModelRequest) -> str:
    """The cache key of one request: a sha256 over a canonical JSON of what determines the reply."""
    document = {
        "v": KEY_VERSION,
        "provider": provider,
        "model": model,
        "endpoint": endpoint_for_key(base_url),
        "request": request.model_dump(mode="json"),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """A thread-safe view of the cache file; open it once per client and `close()` it when done."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = open_cache_db(self.path)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the response cache is closed")
        return self._db

    def get(self, key: str) -> ModelResult | None:
        with self._lock:
            row = self._connection().execute(f'SELECT value FROM "{TABLE}" WHERE key = ?', (key,)).fetchone()
        if row is None:
            return None
        result = ModelResult.model_validate_json(row[0])
        result.from_cache = True
        result.latency_s = 0.0
        result.attempts = 0
        return result

    def put(self, key: str, result: ModelResult) -> None:
        if not result.ok:
            return
        value = result.model_dump_json(exclude={"from_cache", "attempts", "latency_s"})
        with self._lock:
            self._connection().execute(f'REPLACE INTO "{TABLE}" (key, value) VALUES (?, ?)', (key, value))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def open_cache_db(path: Path) -> sqlite3.Connection:
    # isolation_level=None: every statement commits at once, so another process sees it at once.
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL is durable across application crashes; only a power cut may lose the last writes.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key TEXT PRIMARY KEY, value BLOB)')
    return connection


def cache_stats(cache_dir: Path) -> dict[str, Any]:
    """Entries, size on disk and the models present."""
    path = cache_path(cache_dir)
    if not path.is_file():
        return {"path": str(path), "exists": False, "entries": 0, "size_mb": 0.0, "models": {}}
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        models: dict[str, int] = {}
        entries = 0
        if TABLE in tables:
            for (value,) in connection.execute(f'SELECT value FROM "{TABLE}"'):
                entries += 1
                stored = json.loads(value)
                name = f"{stored.get('provider', '?')}:{stored.get('model', '?')}"
                models[name] = models.get(name, 0) + 1
    finally:
        connection.close()
    return {"path": str(path), "exists": True, "entries": entries, "size_mb": round(size / 1e6, 3), "models": models}


def clear_cache(cache_dir: Path, model: str | None = None) -> int:
    """Delete every entry, or those of one `provider:model`; returns how many were deleted."""
    path = cache_path(cache_dir)
    if not path.is_file():
        return 0
    connection = sqlite3.connect(path, timeout=30)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if TABLE not in tables:
            return 0
        if model is None:
            deleted = connection.execute(f'DELETE FROM "{TABLE}"').rowcount
        else:
            doomed = [
                key
                for key, value in connection.execute(f'SELECT key, value FROM "{TABLE}"')
                if "{}:{}".format(*(json.loads(value).get(f, "?") for f in ("provider", "model"))) == model
            ]
            connection.executemany(f'DELETE FROM "{TABLE}" WHERE key = ?', [(key,) for key in doomed])
            deleted = len(doomed)
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()
    return deleted
