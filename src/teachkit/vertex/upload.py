"""Tuning data into Cloud Storage, through the resumable protocol directly.

    data --(sha256 in the object name)--> gs://BUCKET/PREFIX/train-<hash>.jsonl

Each chunk is retried, and after a failure the upload asks the server how much it holds and goes on from there. An
object only exists once its last chunk is in, and its checksum is compared with the local file's before a job may
read it; a mismatch deletes it. An object already there under the same content-hashed name is not uploaded again.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.errors import InputError, TeachkitError
from teachkit.manifest import manifest_path, sha256_of
from teachkit.records import TrainingData
from teachkit.settings import Settings
from teachkit.sft_data.validation import ValidationReport
from teachkit.vertex.clients import google_error, storage_errors

CHUNK_QUANTUM = 256 * 1024  # resumable chunks are multiples of 256 KiB (all but the last)
TRANSIENT = {408, 429, 500, 502, 503, 504}


@dataclass
class Upload:
    """One data file and the object it becomes."""

    path: Path
    split: str
    sha256: str
    size: int
    bucket: str
    object_name: str
    examples: int = 0
    tokens: int = 0
    status: str = "would upload"

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}"

    def row(self) -> dict[str, Any]:
        return {"split": self.split, "file": str(self.path), "object": self.uri, "bytes": self.size,
                "examples": self.examples, "status": self.status}

    def record(self) -> TrainingData:
        manifest = manifest_path(self.path)
        return TrainingData(path=str(self.path), sha256=self.sha256, examples=self.examples,
                            manifest=str(manifest) if manifest.is_file() else None, gcs_uri=self.uri)


def object_name(prefix: str, path: Path, sha256: str) -> str:
    """`PREFIX/<stem>-<first 16 hex of sha256><suffix>`: the same bytes always land on the same name."""
    prefix = prefix.strip("/")
    name = f"{path.stem}-{sha256[:16]}{path.suffix or '.jsonl'}"
    return f"{prefix}/{name}" if prefix else name


def plan_upload(path: Path, split: str, report: ValidationReport, settings: Settings) -> Upload:
    digest = sha256_of(path)
    return Upload(path=Path(path), split=split, sha256=digest, size=Path(path).stat().st_size,
                  bucket=settings.gcp.bucket or "", object_name=object_name(settings.gcp.prefix, Path(path), digest),
                  examples=report.examples, tokens=report.tokens)


def file_checksums(path: Path) -> tuple[str, str]:
    """(md5, crc32c) of a file, base64 as Cloud Storage reports them."""
    import google_crc32c

    md5 = hashlib.md5(usedforsecurity=False)
    crc = google_crc32c.Checksum()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block)
            crc.update(block)
    return base64.b64encode(md5.digest()).decode(), base64.b64encode(crc.digest()).decode()


def ensure_uploaded(
    storage_client: Any,
    upload: Upload,
    *,
    chunk_size: int,
    attempts: int = 5,
    backoff_s: float = 1.0,
    on_bytes: Callable[[int], None] = lambda n: None,
) -> str:
    """Upload unless the same content is there already; returns `uploaded`, `already there` or `replaced`."""
    md5, crc32c = file_checksums(upload.path)
    bucket = storage_client.bucket(upload.bucket)
    try:
        existing = bucket.get_blob(upload.object_name)
    except storage_errors() as error:
        raise google_error(error, "read", upload.uri) from None
    generation = 0
    if existing is not None:
        # Composite objects have no MD5; every object has a CRC32C.
        same = existing.md5_hash == md5 if existing.md5_hash else existing.crc32c == crc32c
        if same and existing.size == upload.size:
            on_bytes(upload.size)
            return "already there"
        # Same content hash in the name, other bytes: a broken object from elsewhere; replace exactly that one.
        generation = existing.generation
    blob = bucket.blob(upload.object_name)
    blob.metadata = {"sha256": upload.sha256, "source": upload.path.name}
    try:
        session = blob.create_resumable_upload_session(
            content_type="application/jsonl", size=upload.size, if_generation_match=generation
        )
    except storage_errors() as error:
        if getattr(error, "code", None) == 404:
            raise InputError(f"bucket {upload.bucket!r} not found: create it (gcloud storage buckets create "
                             f"gs://{upload.bucket}) or set gcp.bucket to an existing one") from None
        raise google_error(error, "write", upload.uri) from None
    resource = send_resumable(session, upload.path, upload.size, chunk_size=chunk_size, attempts=attempts,
                              backoff_s=backoff_s, on_bytes=on_bytes, what=upload.uri)
    if resource.get("md5Hash", md5) != md5 or resource.get("crc32c", crc32c) != crc32c:
        try:
            blob.delete()
        except storage_errors():
            raise TeachkitError(f"{upload.uri}: the uploaded object's checksum differs from {upload.path}'s and it "
                                "could not be deleted: delete it before starting a job on it") from None
        raise TeachkitError(f"{upload.uri}: the uploaded object's checksum differs from {upload.path}'s; it was "
                            "deleted so no job reads it; run the command again")
    return "replaced" if generation else "uploaded"


def send_resumable(
    session_url: str,
    path: Path,
    size: int,
    *,
    chunk_size: int,
    attempts: int,
    backoff_s: float,
    on_bytes: Callable[[int], None],
    what: str,
) -> dict[str, Any]:
    """Send `path` to a resumable upload session chunk by chunk; returns the finished object's resource.

    A chunk that fails (connection lost, 408/429/5xx) is not blindly resent: the session is asked how many bytes
    it holds (`Content-Range: bytes */SIZE`) and the upload goes on from there. The session URL is its own
    credential, so the chunks need no Authorization header.
    """
    import requests

    if chunk_size % CHUNK_QUANTUM:
        raise ValueError(f"chunk_size must be a multiple of {CHUNK_QUANTUM}")
    offset, failures = 0, 0
    http = requests.Session()
    with http, Path(path).open("rb") as handle:
        while True:
            handle.seek(offset)
            data = handle.read(chunk_size)
            content_range = f"bytes {offset}-{offset + len(data) - 1}/{size}" if data else f"bytes */{size}"
            try:
                response = http.put(session_url, data=data, headers={"Content-Range": content_range}, timeout=120)
            except requests.RequestException as error:
                reason = type(error).__name__
            else:
                reason = str(response.status_code)
                if response.status_code in (200, 201):
                    on_bytes(size - offset)
                    return response.json()
                if response.status_code == 308:
                    committed = committed_bytes(response)
                    on_bytes(committed - offset)
                    offset, failures = committed, 0
                    continue
                if response.status_code not in TRANSIENT:
                    raise google_error(HttpStatusError(response), "write", what) from None
            failures += 1
            if failures >= attempts:
                raise TeachkitError(f"uploading {path} to {what}: {failures} attempts in a row failed (last: "
                                    f"{reason}); no object was created; run the command again to retry")
            time.sleep(backoff_s * 2 ** (failures - 1))
            # The failed chunk may have arrived in full, in part or not at all: ask before sending more.
            status = query_session(http, session_url, size)
            if isinstance(status, dict):
                on_bytes(size - offset)
                return status
            if status is not None:
                on_bytes(status - offset)
                offset = status


def committed_bytes(response: Any) -> int:
    """Bytes the session holds, from a 308's `Range: bytes=0-N` (none: 0)."""
    header = response.headers.get("Range") or response.headers.get("range")
    if not header:
        return 0
    return int(header.rsplit("-", 1)[-1]) + 1


def query_session(http: Any, session_url: str, size: int) -> int | dict[str, Any] | None:
    """How far a session got: bytes held, the finished object's resource, or None if the server did not say."""
    import requests

    try:
        response = http.put(session_url, data=b"", headers={"Content-Range": f"bytes */{size}"}, timeout=60)
    except requests.RequestException:
        return None
    if response.status_code in (200, 201):
        return response.json()
    if response.status_code == 308:
        return committed_bytes(response)
    return None


class HttpStatusError(Exception):
    """A non-transient HTTP status from the upload session, shaped for `google_error`."""

    def __init__(self, response: Any):
        self.response = response
        self.code = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        self.details = body
        self.message = (body.get("error", {}) or {}).get("message") if isinstance(body, dict) else None
        super().__init__(self.message or response.text[:300])

