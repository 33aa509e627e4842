"""`crafter finetune --backend vertex`: upload the tuning data to Cloud Storage and run a Vertex AI tuning job.

    data --(sha256 in the object name)--> gs://BUCKET/PREFIX/train-<hash>.jsonl --> tunings.tune(...) --> job record

- Uploads use the resumable protocol of Cloud Storage directly: each chunk is retried, and after a failure the
  upload asks the server how much it holds and goes on from there. An object only exists once its last chunk is
  in, and its checksum is compared with the local file's before a job may read it; a mismatch deletes it. An object
  already there under the same content-hashed name is not uploaded again.
- Jobs are started with google-genai in Vertex mode (`client.tunings.tune`); their record is written beside the
  data as `<data>.tuning-<ID>.json` (a `TuningJob`) and refreshed by `--wait` and `finetune status`.
- A 403 from either service becomes one line naming the missing permission and a role that grants it.

Credentials: `gcp.access_token` when set (e.g. `gcloud auth print-access-token`), else application default
credentials. `gcp.vertex_endpoint` / `gcp.storage_endpoint` point the clients elsewhere (a proxy, or the loopback
fakes the tests use).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.tuning_data import ValidationReport, tuning_cost_usd
from teachkit.errors import ConfigError, InputError, TeachkitError
from teachkit.jsonl import atomic_write
from teachkit.manifest import manifest_path, now_iso, sha256_of
from teachkit.records import TrainingData, TuningJob
from teachkit.settings import Settings

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
ADAPTER_SIZES = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR", 8: "ADAPTER_SIZE_EIGHT",
                 16: "ADAPTER_SIZE_SIXTEEN"}
FINAL_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                "JOB_STATE_PARTIALLY_SUCCEEDED"}
# Roles that grant what each call needs, for the 403 message.
ROLE_FOR = {
    "storage.objects.create": "roles/storage.objectCreator",
    "storage.objects.get": "roles/storage.objectViewer",
    "storage.objects.delete": "roles/storage.objectAdmin",
    "storage.objects.list": "roles/storage.objectViewer",
    "aiplatform.tuningJobs.create": "roles/aiplatform.user",
    "aiplatform.tuningJobs.get": "roles/aiplatform.user",
    "aiplatform.tuningJobs.list": "roles/aiplatform.user",
}
# How Google's messages name a permission, most specific first ("Permission 'x.y.z' denied", "does not have x.y.z
# access"); the last pattern avoids domains such as iam.gserviceaccount.com and storage.googleapis.com.
_PERMISSION = (
    re.compile(r"Permission '([a-z]+\.[A-Za-z]+\.[A-Za-z]+)'"),
    re.compile(r"does not have ([a-z]+\.[A-Za-z]+\.[A-Za-z]+) access"),
    re.compile(r"\b((?:storage|aiplatform)\.(?!googleapis\b)[a-z][A-Za-z]+\.[a-z][A-Za-z]+)\b"),
)
CHUNK_QUANTUM = 256 * 1024  # resumable chunks are multiples of 256 KiB (all but the last)
TRANSIENT = {408, 429, 500, 502, 503, 504}


# --- configuration and clients -----------------------------------------------------------------------------------


def require_gcp(settings: Settings, *, bucket: bool = True) -> None:
    """Exit 2 naming every missing setting and the ways to set it."""
    gcp = settings.gcp
    missing = []
    if not gcp.project:
        missing.append("a project (--project, gcp.project in teachkit.toml, TEACHKIT_GCP__PROJECT or "
                       "GOOGLE_CLOUD_PROJECT)")
    if bucket and not gcp.bucket:
        missing.append("a bucket (--bucket, gcp.bucket in teachkit.toml or TEACHKIT_GCP__BUCKET)")
    if missing:
        raise ConfigError(f"Vertex AI tuning needs {' and '.join(missing)}")
    if bucket and (gcp.bucket or "").startswith("gs://"):
        raise ConfigError(f"gcp.bucket {gcp.bucket!r}: give the bucket name without gs://")


def credentials(settings: Settings) -> Any:
    """The access token from the settings, or application default credentials."""
    if settings.gcp.access_token is not None:
        from google.oauth2.credentials import Credentials

        return Credentials(token=settings.gcp.access_token.get_secret_value())
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        found, _ = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        raise ConfigError(
            "no Google Cloud credentials: run `gcloud auth application-default login`, set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or set gcp.access_token"
        ) from None
    return found


@dataclass
class GcpClients:
    """The two clients a Vertex tuning run talks through; tests build them against loopback servers."""

    storage: Any
    genai: Any
    location: str
    project: str


def open_clients(settings: Settings) -> GcpClients:
    from google.cloud import storage
    from google.genai import Client, types

    gcp = settings.gcp
    creds = credentials(settings)
    options = {"api_endpoint": gcp.storage_endpoint} if gcp.storage_endpoint else None
    storage_client = storage.Client(project=gcp.project, credentials=creds, client_options=options)
    # 429 and 503 mean the request was not acted on, so even a job creation may be retried after them; a 500 or a
    # timeout may hide a job that was created, and a second one would be billed too.
    retry = types.HttpRetryOptions(attempts=5, initial_delay=1.0, max_delay=30.0, http_status_codes=[429, 503])
    genai_client = Client(
        vertexai=True, project=gcp.project, location=gcp.location, credentials=creds,
        http_options=types.HttpOptions(base_url=gcp.vertex_endpoint, retry_options=retry),
    )
    return GcpClients(storage=storage_client, genai=genai_client, location=gcp.location, project=gcp.project or "")


def permission_message(error: Any, action: str, resource: str) -> str | None:
    """One line for a 403 from Cloud Storage or Vertex AI; None if `error` is not a 403."""
    code = getattr(error, "code", None)
    response = getattr(error, "response", None)
    if code is None and response is not None:
        code = getattr(response, "status_code", None)
    if code != 403:
        return None
    text = str(getattr(error, "message", "") or error)
    if response is not None and not getattr(error, "message", None):
        text = getattr(response, "text", "") or text
    permission = permission_from_details(getattr(error, "details", None))
    for pattern in _PERMISSION:
        found = pattern.search(text) if permission is None else None
        permission = found.group(1) if found else permission
    if permission is None:
        return f"permission denied to {action} {resource}; check the IAM roles of the credentials in use"
    role = ROLE_FOR.get(permission)
    grant = f" (granted by {role})" if role else ""
    return (f"permission denied: the credentials in use lack {permission}{grant}, needed to {action} {resource}; "
            "grant it in IAM, or use other credentials")


def permission_from_details(details: Any) -> str | None:
    """Vertex AI names the permission in an ErrorInfo detail (`metadata.permission`)."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("metadata"), dict) and item["metadata"].get("permission"):
            return str(item["metadata"]["permission"])
    return None


def storage_errors() -> tuple[type[Exception], ...]:
    """What google-cloud-storage raises for a refused or failed request."""
    import requests
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud.storage.exceptions import InvalidResponse

    return GoogleAPICallError, InvalidResponse, requests.ConnectionError


def google_error(error: Exception, action: str, resource: str) -> TeachkitError:
    """A Google API error as one line: a 403 names the permission, a 401 or 404 says what to fix."""
    denied = permission_message(error, action, resource)
    if denied:
        return TeachkitError(denied)
    code = getattr(error, "code", None) or getattr(getattr(error, "response", None), "status_code", None)
    message = (str(getattr(error, "message", "") or error).strip().splitlines() or [""])[0][:300]
    if code is None and isinstance(error, OSError):
        return TeachkitError(f"{action} {resource}: cannot reach the service ({type(error).__name__}); check the "
                             "network, or gcp.storage_endpoint / gcp.vertex_endpoint")
    if code == 401:
        return ConfigError(f"{action} {resource}: the credentials were refused (401); refresh them with "
                           "`gcloud auth application-default login` or a new gcp.access_token")
    if code == 404:
        return InputError(f"{action} {resource}: not found (404): {message}")
    return TeachkitError(f"{action} {resource} failed ({code or type(error).__name__}): {message}")


# --- uploads -----------------------------------------------------------------------------------------------------


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


# --- jobs --------------------------------------------------------------------------------------------------------


def job_request(settings: Settings, train: Upload, validation: Upload | None, display_name: str) -> dict[str, Any]:
    """The arguments of `client.tunings.tune(...)`, as plain data (printed by --dry-run, kept in the record)."""
    config = settings.crafter.finetune
    request: dict[str, Any] = {
        "base_model": config.base_model,
        "training_dataset": {"gcs_uri": train.uri},
        "config": {
            "tuned_model_display_name": display_name,
            "epoch_count": config.epochs,
            "learning_rate_multiplier": config.learning_rate_multiplier,
            "adapter_size": ADAPTER_SIZES[config.adapter_size],
        },
    }
    if validation is not None:
        request["config"]["validation_dataset"] = {"gcs_uri": validation.uri}
    return request


def start_job(clients: GcpClients, request: dict[str, Any]) -> Any:
    import warnings

    from google.genai import errors, types

    config = dict(request["config"])
    validation = config.pop("validation_dataset", None)
    with warnings.catch_warnings():
        # google-genai marks tuning "experimental" on every call; the warning is not for teachkit's users.
        warnings.simplefilter("ignore")
        try:
            return clients.genai.tunings.tune(
                base_model=request["base_model"],
                training_dataset=types.TuningDataset(gcs_uri=request["training_dataset"]["gcs_uri"]),
                config=types.CreateTuningJobConfig(
                    **config, validation_dataset=types.TuningValidationDataset(**validation) if validation else None
                ),
            )
        except errors.APIError as error:
            raise google_error(error, "create a tuning job in",
                               f"projects/{clients.project}/locations/{clients.location}") from None


def job_name(clients: GcpClients, job: str) -> str:
    """A full resource name from a name, a bare job ID, or a job record file."""
    if job.endswith(".json") and Path(job).is_file():
        return read_job_record(Path(job)).name
    if job.startswith("projects/"):
        return job
    if job.isdigit():
        return f"projects/{clients.project}/locations/{clients.location}/tuningJobs/{job}"
    raise InputError(f"job {job!r}: give projects/P/locations/L/tuningJobs/ID, the numeric ID, or a job record "
                     "(<data>.tuning-ID.json)")


def get_job(clients: GcpClients, name: str) -> Any:
    from google.genai import errors

    try:
        return clients.genai.tunings.get(name=name)
    except errors.APIError as error:
        raise google_error(error, "read the tuning job", name) from None


def state_name(job: Any) -> str:
    state = getattr(job, "state", None)
    return getattr(state, "value", None) or str(state or "JOB_STATE_UNSPECIFIED")


def job_facts(job: Any) -> dict[str, Any]:
    """What a person wants to know about a job, as plain data."""
    tuned = getattr(job, "tuned_model", None)
    error = getattr(job, "error", None)
    return {
        "name": job.name,
        "state": state_name(job),
        "display_name": getattr(job, "tuned_model_display_name", None),
        "base_model": getattr(job, "base_model", None),
        "created": iso(getattr(job, "create_time", None)),
        "updated": iso(getattr(job, "update_time", None)),
        "tuned_model": getattr(tuned, "model", None) if tuned else None,
        "endpoint": getattr(tuned, "endpoint", None) if tuned else None,
        "error": (getattr(error, "message", None) or str(error)) if error else None,
    }


def iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def record_path_for(train: Path, name: str) -> Path:
    return Path(train).with_name(f"{Path(train).stem}.tuning-{name.rsplit('/', 1)[-1]}.json")


def write_job_record(path: Path, record: TuningJob) -> None:
    with atomic_write(path) as handle:
        handle.write(record.model_dump_json(indent=2) + "\n")


def read_job_record(path: Path) -> TuningJob:
    try:
        return TuningJob.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path}: not a tuning job record ({str(error).splitlines()[0]})") from None


def refresh_record(record: TuningJob, job: Any) -> TuningJob:
    facts = job_facts(job)
    return record.model_copy(update={
        "state": facts["state"], "tuned_model": facts["tuned_model"], "endpoint": facts["endpoint"],
        "error": facts["error"], "updated_at": now_iso(),
    })


def wait_for_job(clients: GcpClients, name: str, settings: Settings, output: Output,
                 on_change: Callable[[Any], None], *, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll until the job reaches a final state; a failed poll (network, 5xx) is retried at the next interval."""
    from google.genai import errors

    interval = settings.crafter.finetune.poll_interval_s
    started = time.monotonic()
    last_state = None
    failures = 0
    with output.progress("tuning job", total=None, unit="polls") as bar:
        while True:
            try:
                job = clients.genai.tunings.get(name=name)
                failures = 0
            except errors.ClientError as error:
                raise google_error(error, "read the tuning job", name) from None
            except (errors.ServerError, *http_transport_errors(), OSError) as error:
                failures += 1
                if failures >= 10:
                    raise TeachkitError(f"{name}: 10 status checks in a row failed ({error}); the job may still be "
                                        f"running: teachkit crafter finetune status {name}") from None
                output.warn(f"status check failed ({type(error).__name__}); trying again in {interval:g} s")
                sleep(interval)
                continue
            state = state_name(job)
            elapsed = time.monotonic() - started
            bar.advance(1, state=state.removeprefix("JOB_STATE_").lower(), elapsed=f"{elapsed / 60:.1f} min")
            if state != last_state:
                on_change(job)
                output.info(f"{name}: {state}")
                last_state = state
            if state in FINAL_STATES:
                return job
            sleep(interval)


def http_transport_errors() -> tuple[type[Exception], ...]:
    """Connection failures and timeouts of httpx2 / httpx (google-genai uses whichever is installed)."""
    found: list[type[Exception]] = []
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


# --- the command ---------------------------------------------------------------------------------------------------


@dataclass
class VertexResult:
    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    interrupted: bool = False


def tune_on_vertex(
    train: Path,
    validation: Path | None,
    reports: list[ValidationReport],
    settings: Settings,
    output: Output,
    *,
    wait: bool = False,
    dry_run: bool = False,
    clients: GcpClients | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> VertexResult:
    """Upload the checked data and start (and with `wait`, follow) a supervised tuning job."""
    require_gcp(settings)
    config = settings.crafter.finetune
    train_upload = plan_upload(train, "train", reports[0], settings)
    validation_upload = plan_upload(validation, "validation", reports[1], settings) if validation else None
    uploads = [u for u in (train_upload, validation_upload) if u is not None]
    display_name = config.display_name or f"crafter-{Path(train).stem}"[:128]
    request = job_request(settings, train_upload, validation_upload, display_name)
    price = settings.crafter.format.price_per_million_training_tokens
    cost = tuning_cost_usd(train_upload.tokens, config.epochs, price)
    summary: dict[str, Any] = {
        "backend": "vertex",
        "project": settings.gcp.project,
        "location": settings.gcp.location,
        "base_model": config.base_model,
        "display_name": display_name,
        "train_examples": train_upload.examples,
        "training_tokens": train_upload.tokens,
        "tokens_counted_by": token_method(settings),
        "epochs": config.epochs,
        "estimated_cost_usd": round(cost, 4),
        "cost_estimate": f"estimate: {train_upload.tokens:,} training tokens x {config.epochs} epochs x "
                         f"${price:g} per million tokens (crafter.format.price_per_million_training_tokens)",
    }
    tables = {"uploads": [], "job_request": flatten_request(request)}
    if dry_run:
        summary["dry_run"] = "nothing uploaded, no job started"
        tables["uploads"] = [upload.row() for upload in uploads]
        return VertexResult(summary, tables)

    clients = clients or open_clients(settings)
    chunk = settings.crafter.finetune.upload_chunk_mib * 1024 * 1024
    total = sum(upload.size for upload in uploads)
    with output.progress("uploading", total=total, unit="B") as bar:
        for upload in uploads:
            upload.status = ensure_uploaded(clients.storage, upload, chunk_size=chunk, on_bytes=bar.advance)
            output.info(f"{upload.uri}: {upload.status}")
    tables["uploads"] = [upload.row() for upload in uploads]

    job = start_job(clients, request)
    record = TuningJob(
        name=job.name, state=state_name(job), project=settings.gcp.project or "", location=settings.gcp.location,
        base_model=config.base_model, display_name=display_name, training_data=train_upload.record(),
        validation_data=validation_upload.record() if validation_upload else None,
        hyper_parameters=dict(request["config"]), created_at=now_iso(), updated_at=now_iso(),
    )
    path = record_path_for(train, job.name)
    write_job_record(path, record)
    output.info(f"started {job.name}; its record: {path}")
    summary.update(job=job.name, state=record.state, job_record=str(path))
    if not wait:
        summary["next"] = f"teachkit crafter finetune status {path}"
        return VertexResult(summary, tables)

    def on_change(current: Any) -> None:
        nonlocal record
        record = refresh_record(record, current)
        write_job_record(path, record)

    try:
        job = wait_for_job(clients, job.name, settings, output, on_change, sleep=sleep)
    except KeyboardInterrupt:
        output.warn(f"stopped waiting; the job keeps running on Vertex AI. Check it with: "
                    f"teachkit crafter finetune status {path}")
        summary.update(state=record.state, next=f"teachkit crafter finetune status {path}")
        return VertexResult(summary, tables, interrupted=True)
    facts = job_facts(job)
    summary.update(state=facts["state"], tuned_model=facts["tuned_model"], endpoint=facts["endpoint"])
    if facts["state"] != "JOB_STATE_SUCCEEDED":
        raise TeachkitError(f"{job.name} ended in {facts['state']}: {facts['error'] or 'no error message'} "
                            f"(record: {path})")
    summary["next"] = f"teachkit crafter eval --policy vertex:{facts['endpoint']}"
    return VertexResult(summary, tables)


def token_method(settings: Settings) -> str:
    tokenizer = settings.crafter.format.tokenizer
    return f"tokenizer {tokenizer}" if tokenizer else "estimate (characters / 4); --tokenizer in format for exact"


def flatten_request(request: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows = []
    for key, value in request.items():
        if isinstance(value, dict):
            rows.extend(flatten_request(value, f"{prefix}{key}."))
        else:
            rows.append({"field": f"{prefix}{key}", "value": value})
    return rows


def tuning_job_status(job: str, settings: Settings, clients: GcpClients | None = None) -> dict[str, Any]:
    """`finetune status JOB`: the job as Vertex AI reports it now; a job record given as JOB is refreshed."""
    record = read_job_record(Path(job)) if job.endswith(".json") and Path(job).is_file() else None
    # A job record, or a full job name, says where its job lives.
    where = (record.project, record.location) if record is not None else None
    parts = job.split("/")
    if where is None and len(parts) == 6 and parts[0] == "projects" and parts[4] == "tuningJobs":
        where = (parts[1], parts[3])
    if where is not None:
        settings = settings.model_copy(update={"gcp": settings.gcp.model_copy(
            update={"project": where[0], "location": where[1]})})
    require_gcp(settings, bucket=False)
    clients = clients or open_clients(settings)
    name = record.name if record is not None else job_name(clients, job)
    current = get_job(clients, name)
    facts = job_facts(current)
    if record is not None:
        write_job_record(Path(job), refresh_record(record, current))
        facts["job_record"] = job
    if facts["state"] == "JOB_STATE_SUCCEEDED" and facts["endpoint"]:
        facts["next"] = f"teachkit crafter eval --policy vertex:{facts['endpoint']}"
    return facts


def list_tuning_jobs(settings: Settings, limit: int = 20, clients: GcpClients | None = None) -> list[dict[str, Any]]:
    """`finetune list`: the newest tuning jobs of the project and location, up to `limit`."""
    import warnings

    from google.genai import errors, types

    require_gcp(settings, bucket=False)
    clients = clients or open_clients(settings)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for job in clients.genai.tunings.list(config=types.ListTuningJobsConfig(page_size=min(limit, 100))):
                facts = job_facts(job)
                rows.append({"job": facts["name"].rsplit("/", 1)[-1], "display_name": facts["display_name"],
                             "state": facts["state"].removeprefix("JOB_STATE_"), "base_model": facts["base_model"],
                             "created": facts["created"], "endpoint": facts["endpoint"]})
                if len(rows) >= limit:
                    break
        except errors.APIError as error:
            raise google_error(error, "list tuning jobs in",
                               f"projects/{clients.project}/locations/{clients.location}") from None
    return rows
