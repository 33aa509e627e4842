"""`crafter finetune --backend vertex`, `finetune status` and `finetune list` through the real google-cloud-storage and
google-genai clients: Cloud Storage is gcp-storage-emulator (behind a proxy that injects faults), Vertex AI is the
loopback fake of the tuningJobs endpoints."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.console import Output
from teachkit.errors import TeachkitError
from teachkit.settings import load_settings
from teachkit.sft_data.formats import Example, render
from teachkit.sft_data.validation import check_training_files
from teachkit.testing.fake_vertex_tuning import FakeVertexTuning, permission_denied
from teachkit.vertex.clients import GcpClients, open_clients
from teachkit.vertex.job_records import read_job_record
from teachkit.vertex.tune import tune_on_vertex
from teachkit.vertex.upload import CHUNK_QUANTUM, ensure_uploaded, plan_upload

BUCKET = "tuning-bucket"


class FaultyProxy:
    """An HTTP proxy in front of the storage emulator that can drop upload chunks or answer 403 like GCS."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.drop_chunks = 0  # upload chunks (PUTs to a session) whose connection is cut
        self.pass_chunks = 0  # chunks let through before dropping starts
        self.corrupt_chunks = 0  # chunks whose first byte is flipped on the way
        self.forward_dropped = False  # cut after the emulator got the chunk, instead of before
        self.denied: dict[tuple[str, str], str] = {}  # (method, path part) -> permission
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, self.path))
                for (method, part), permission in proxy.denied.items():
                    if self.command == method and part in self.path:
                        return self.reply(403, json.dumps({"error": {"code": 403, "message": (
                            f"ci@p.iam.gserviceaccount.com does not have {permission} access to the Google Cloud "
                            f"Storage object. Permission '{permission}' denied on resource (or it may not exist)."),
                            "errors": [{"domain": "global", "reason": "forbidden"}]}}).encode(), [])
                drop = self.command == "PUT" and "upload_id" in self.path and length > 0 and proxy.drop_chunks > 0
                if self.command == "PUT" and "upload_id" in self.path and length > 0 and proxy.corrupt_chunks > 0:
                    proxy.corrupt_chunks -= 1
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                if drop and proxy.pass_chunks > 0:
                    proxy.pass_chunks -= 1
                    drop = False
                if drop:
                    proxy.drop_chunks -= 1
                    if not proxy.forward_dropped:
                        self.close_connection = True
                        return None
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                if drop:
                    self.close_connection = True
                    return None
                return self.reply(response.status, data, response.getheaders())

            def reply(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    if name.lower() == "location":  # resumable sessions must come back through the proxy
                        value = value.replace(urlsplit(value).netloc, f"127.0.0.1:{proxy.port}")
                    self.send_header(name, value)
                if not any(name.lower() == "content-type" for name, _ in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uploads(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and "uploadType=resumable" in path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gcs(emulator: Any) -> Iterator[FaultyProxy]:
    emulator.wipe(keep_buckets=True)
    proxy = FaultyProxy(emulator._api._httpd.server_port)
    yield proxy
    proxy.close()


def bucket_objects(gcs: FaultyProxy) -> dict[str, bytes]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"http://127.0.0.1:{gcs.upstream_port}"})
    return {blob.name: blob.download_as_bytes() for blob in client.list_blobs(BUCKET)}


@pytest.fixture
def vertex(gcs: FaultyProxy) -> Iterator[FakeVertexTuning]:
    # Vertex AI refuses a job whose data is not there; the fake asks the emulator the same.
    def exists(uri: str) -> bool:
        return uri.removeprefix(f"gs://{BUCKET}/") in bucket_objects(gcs)

    with FakeVertexTuning(dataset_exists=exists) as fake:
        yield fake


@pytest.fixture
def gcp_env(monkeypatch: pytest.MonkeyPatch, gcs: FaultyProxy, vertex: FakeVertexTuning) -> dict[str, str]:
    env = {
        "TEACHKIT_GCP__PROJECT": "p",
        "TEACHKIT_GCP__BUCKET": BUCKET,
        "TEACHKIT_GCP__PREFIX": "crafter/runs",
        "TEACHKIT_GCP__ACCESS_TOKEN": "fake-token-123",
        "TEACHKIT_GCP__VERTEX_ENDPOINT": vertex.url,
        "TEACHKIT_GCP__STORAGE_ENDPOINT": gcs.url,
        "TEACHKIT_CRAFTER__FINETUNE__POLL_INTERVAL_S": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def write_vertex_file(path: Path, count: int, *, pad: int = 0) -> Path:
    lines = []
    for index in range(count):
        observation = f"t{index} day H9 F9 D9 E9\nnear: tree W{index % 5 + 1}" + " ." * pad
        example = Example(system="You play Crafter.", turns=[("user", observation), ("model", "Action: move_left")])
        lines.append(json.dumps(render(example, "vertex")))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_dry_run_prints_the_plan_and_touches_nothing(gcp_env: dict, gcs: FaultyProxy, vertex: FakeVertexTuning,
                                                     tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 6)
    result = run_cli("--json", "crafter", "finetune", str(train), "--backend", "vertex", "--dry-run", "--epochs", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    digest = hashlib.sha256(train.read_bytes()).hexdigest()
    assert summary["uploads"][0]["object"] == f"gs://{BUCKET}/crafter/runs/train-{digest[:16]}.jsonl"
    assert summary["train_examples"] == 6 and summary["training_tokens"] > 0
    assert summary["estimated_cost_usd"] == pytest.approx(summary["training_tokens"] * 2 * 5.0 / 1e6, abs=1e-4)
    fields = {row["field"]: row["value"] for row in summary["job_request"]}
    assert fields["base_model"] == "gemini-2.5-flash" and fields["config.epoch_count"] == 2
    assert fields["config.adapter_size"] == "ADAPTER_SIZE_FOUR"
    assert gcs.requests == [] and vertex.requests == []
    assert not list(tmp_path.glob("*.tuning-*.json"))


def test_the_python_api_tunes_on_vertex_as_the_command_does(gcp_env: dict, gcs: FaultyProxy,
                                                             vertex: FakeVertexTuning, tmp_path: Path) -> None:
    from teachkit.api import crafter
    from teachkit.crafter.finetune import FinetuneRequest
    from teachkit.settings import load_settings

    train = write_vertex_file(tmp_path / "train.jsonl", 6)
    settings = load_settings(overrides={"crafter.finetune.backend": "vertex", "vertex.epochs": 2})
    planned = crafter.finetune(settings, FinetuneRequest(train=train, dry_run=True))
    command = json.loads(run_cli("--json", "crafter", "finetune", str(train), "--backend", "vertex", "--dry-run",
                                 "--epochs", "2").stdout)
    assert planned.title == "crafter finetune"
    assert planned.tables["uploads"] == command["uploads"] and planned.tables["job_request"] == command["job_request"]
    assert planned.data["estimated_cost_usd"] == command["estimated_cost_usd"]
    assert gcs.requests == [] and vertex.requests == []


def test_missing_project_and_bucket_exit_2_saying_what_to_set(tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 2)
    result = run_cli("crafter", "finetune", str(train), "--backend", "vertex")
    assert result.exit_code == 2
    assert "gcp.project" in result.stderr and "gcp.bucket" in result.stderr and "--bucket" in result.stderr


def test_bad_data_stops_before_any_upload(gcp_env: dict, gcs: FaultyProxy, tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 3)
    with train.open("a") as handle:
        handle.write(json.dumps({"contents": [{"role": "model", "parts": [{"text": "Action: do"}]}]}) + "\n")
    result = run_cli("crafter", "finetune", str(train), "--backend", "vertex")
    assert result.exit_code == 2
    assert f"{train}:4:" in result.stderr and "--validate" in result.stderr
    assert gcs.requests == []


def test_messages_file_is_refused_for_vertex(gcp_env: dict, tmp_path: Path) -> None:
    train = tmp_path / "chat.jsonl"
    train.write_text(json.dumps(render(Example(None, [("user", "hi"), ("model", "Action: do")]), "messages")) + "\n")
    result = run_cli("crafter", "finetune", str(train), "--backend", "vertex")
    assert result.exit_code == 2 and "--target vertex" in result.stderr


def test_upload_start_wait_then_status_and_list(gcp_env: dict, gcs: FaultyProxy, vertex: FakeVertexTuning,
                                                tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 8)
    val = write_vertex_file(tmp_path / "val.jsonl", 2)
    result = run_cli("--json", "crafter", "finetune", str(train), "--validation", str(val), "--backend", "vertex",
                     "--wait", "--display-name", "student-1", "--learning-rate-multiplier", "0.5",
                     "--adapter-size", "8", "--epochs", "4")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["state"] == "JOB_STATE_SUCCEEDED"
    assert summary["endpoint"].startswith("projects/p/locations/us-central1/endpoints/")
    # The record, not the bare endpoint: it carries the prompt the model was tuned with, for `crafter eval`.
    assert summary["next"] == f"teachkit crafter eval --policy {summary['job_record']}"

    # The objects hold exactly the files, under content-hashed names.
    objects = bucket_objects(gcs)
    train_name = f"crafter/runs/train-{hashlib.sha256(train.read_bytes()).hexdigest()[:16]}.jsonl"
    assert objects[train_name] == train.read_bytes()
    assert len(objects) == 2

    create = next(r for r in vertex.requests if r.method == "POST")
    assert create.header("Authorization") == "Bearer fake-token-123"
    spec = create.body["supervisedTuningSpec"]
    assert spec["trainingDatasetUri"] == f"gs://{BUCKET}/{train_name}"
    assert spec["validationDatasetUri"].startswith(f"gs://{BUCKET}/crafter/runs/val-")
    assert spec["hyperParameters"] == {"epochCount": 4, "learningRateMultiplier": 0.5,
                                       "adapterSize": "ADAPTER_SIZE_EIGHT"}
    assert create.body["tunedModelDisplayName"] == "student-1"

    record_path = Path(summary["job_record"])
    assert record_path.parent == tmp_path and record_path.name.startswith("train.tuning-")
    record = read_job_record(record_path)
    assert record.state == "JOB_STATE_SUCCEEDED" and record.endpoint == summary["endpoint"]
    assert record.training_data.gcs_uri == spec["trainingDatasetUri"]
    assert record.hyper_parameters["epoch_count"] == 4
    assert "fake-token-123" not in record_path.read_text()
    assert record.prompt is not None and record.prompt.source_format == "vertex"
    assert record.prompt.system_prompt == "You play Crafter." and record.prompt.observation_format == "compact"
    assert record.prompt.history == 0 and not record.prompt.with_thoughts

    # The same data again: nothing is uploaded twice.
    uploads_before = gcs.uploads()
    again = run_cli("--json", "crafter", "finetune", str(train), "--backend", "vertex")
    assert again.exit_code == 0, again.output
    assert gcs.uploads() == uploads_before
    assert json.loads(again.stdout)["uploads"][0]["status"] == "already there"

    status = run_cli("--json", "crafter", "finetune", "status", str(record_path))
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["state"] == "JOB_STATE_SUCCEEDED"

    listed = run_cli("--json", "crafter", "finetune", "list", "--limit", "1")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["tuning_jobs"]
    assert len(rows) == 1 and rows[0]["state"] in ("PENDING", "SUCCEEDED")
    assert len(vertex.jobs) == 2


def settings_for(gcs: FaultyProxy, vertex: FakeVertexTuning, **extra: Any) -> Any:
    return load_settings(None, {
        "gcp.project": "p", "gcp.bucket": BUCKET, "gcp.access_token": "t", "gcp.vertex_endpoint": vertex.url,
        "gcp.storage_endpoint": gcs.url, "vertex.poll_interval_s": 0.01, **extra,
    })


@pytest.mark.parametrize("after_the_server_got_it", [False, True])
def test_an_interrupted_upload_resumes_and_the_object_is_whole(gcs: FaultyProxy, vertex: FakeVertexTuning,
                                                               tmp_path: Path, after_the_server_got_it: bool) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 40, pad=8000)  # about 700 KB: three chunks
    settings = settings_for(gcs, vertex)
    reports = check_training_files(train, None, settings, Output(), target="vertex")
    upload = plan_upload(train, "train", reports[0], settings)
    # The second chunk is cut (the emulator misreports a session holding no bytes as holding one: real Cloud
    # Storage sends no Range header then).
    gcs.pass_chunks, gcs.drop_chunks, gcs.forward_dropped = 1, 1, after_the_server_got_it
    clients = open_clients(settings)
    status = ensure_uploaded(clients.storage, upload, chunk_size=CHUNK_QUANTUM, backoff_s=0.01)
    assert status == "uploaded"
    assert gcs.drop_chunks == 0
    assert bucket_objects(gcs)[upload.object_name] == train.read_bytes()


def test_an_upload_that_keeps_failing_leaves_no_object(gcs: FaultyProxy, vertex: FakeVertexTuning,
                                                       tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 40, pad=8000)
    settings = settings_for(gcs, vertex)
    upload = plan_upload(train, "train", check_training_files(train, None, settings, Output(), target="vertex")[0],
                         settings)
    gcs.pass_chunks, gcs.drop_chunks = 1, 100
    with pytest.raises(TeachkitError, match="no object was created"):
        ensure_uploaded(open_clients(settings).storage, upload, chunk_size=CHUNK_QUANTUM, attempts=3, backoff_s=0.01)
    assert bucket_objects(gcs) == {}
    # Run again once the network is back: it completes.
    gcs.drop_chunks = 0
    assert ensure_uploaded(open_clients(settings).storage, upload, chunk_size=CHUNK_QUANTUM) == "uploaded"


def test_a_corrupted_upload_is_deleted_and_a_broken_object_replaced(gcs: FaultyProxy, vertex: FakeVertexTuning,
                                                                    tmp_path: Path) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    train = write_vertex_file(tmp_path / "train.jsonl", 6)
    settings = settings_for(gcs, vertex)
    upload = plan_upload(train, "train", check_training_files(train, None, settings, Output(), target="vertex")[0],
                         settings)
    client = open_clients(settings).storage
    gcs.corrupt_chunks = 1
    with pytest.raises(TeachkitError, match="checksum differs"):
        ensure_uploaded(client, upload, chunk_size=CHUNK_QUANTUM)
    assert bucket_objects(gcs) == {}  # no job can read the damaged bytes

    # Other bytes under the content-hashed name (a broken copy from elsewhere): replaced, not trusted.
    direct = storage.Client(project="test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"http://127.0.0.1:{gcs.upstream_port}"})
    direct.bucket(BUCKET).blob(upload.object_name).upload_from_string(b"half a file")
    assert ensure_uploaded(client, upload, chunk_size=CHUNK_QUANTUM) == "replaced"
    assert bucket_objects(gcs)[upload.object_name] == train.read_bytes()
    assert ensure_uploaded(client, upload, chunk_size=CHUNK_QUANTUM) == "already there"


def test_storage_403_names_the_missing_permission(gcp_env: dict, gcs: FaultyProxy, tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 3)
    gcs.denied[("POST", "/upload/storage/")] = "storage.objects.create"
    result = run_cli("crafter", "finetune", str(train), "--backend", "vertex")
    assert result.exit_code == 1
    # One error line (progress lines off a terminal may come before it).
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "storage.objects.create" in lines[0] and "roles/storage.objectCreator" in lines[0]
    assert "fake-token-123" not in result.output


def test_tuning_403_names_the_missing_permission(gcp_env: dict, vertex: FakeVertexTuning, tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 3)
    vertex.push(permission_denied("aiplatform.tuningJobs.create", "projects/p/locations/us-central1"))
    result = run_cli("crafter", "finetune", str(train), "--backend", "vertex")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "aiplatform.tuningJobs.create" in errors[0] and "roles/aiplatform.user" in errors[0]
    assert not list(tmp_path.glob("*.tuning-*.json"))


def test_ctrl_c_while_waiting_leaves_the_job_running(gcs: FaultyProxy, tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 3)
    with FakeVertexTuning(states=("JOB_STATE_PENDING", "JOB_STATE_RUNNING")) as vertex:
        settings = settings_for(gcs, vertex)
        reports = check_training_files(train, None, settings, Output(), target="vertex")
        polls = []

        def sleep(seconds: float) -> None:
            polls.append(seconds)
            if len(polls) == 2:
                raise KeyboardInterrupt

        result = tune_on_vertex(train, None, reports, settings, Output(), wait=True, clients=open_clients(settings),
                                sleep=sleep)
        assert result.interrupted
        name = result.summary["job"]
        assert vertex.jobs[name]["state"] == "JOB_STATE_RUNNING"  # not cancelled
        assert not any(r.path.endswith(":cancel") for r in vertex.requests)
        assert result.summary["next"] == f"teachkit crafter finetune status {result.summary['job_record']}"
        assert read_job_record(Path(result.summary["job_record"])).state == "JOB_STATE_RUNNING"


def test_a_failed_job_is_reported_with_its_error(gcs: FaultyProxy, tmp_path: Path) -> None:
    train = write_vertex_file(tmp_path / "train.jsonl", 3)
    with FakeVertexTuning(states=("JOB_STATE_PENDING", "JOB_STATE_FAILED")) as vertex:
        settings = settings_for(gcs, vertex)
        reports = check_training_files(train, None, settings, Output(), target="vertex")
        clients: GcpClients = open_clients(settings)
        with pytest.raises(TeachkitError, match="JOB_STATE_FAILED: Training data has an invalid example"):
            tune_on_vertex(train, None, reports, settings, Output(), wait=True, clients=clients)
        record = read_job_record(next(tmp_path.glob("train.tuning-*.json")))
        assert record.state == "JOB_STATE_FAILED" and record.error
