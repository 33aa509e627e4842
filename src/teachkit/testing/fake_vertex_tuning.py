"""A loopback fake of the Vertex AI `tuningJobs` REST endpoints, for the real google-genai client in Vertex mode.

    with FakeVertexTuning(states=("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")) as fake:
        client = genai.Client(vertexai=True, project="p", location="us-central1",
                              credentials=google.oauth2.credentials.Credentials(token="fake"),
                              http_options=types.HttpOptions(base_url=fake.url))
        job = client.tunings.tune(base_model="gemini-2.5-flash", training_dataset=...)

It serves, on any API version (`/v1/`, `/v1beta1/`):
- `POST .../projects/P/locations/L/tuningJobs`: checks the request as Vertex AI would (a base model, gs:// dataset
  URIs that exist when a `dataset_exists` check is given) and creates a job in `states[0]`;
- `GET .../tuningJobs/ID`: each read moves the job one state along `states`; a job that reaches
  `JOB_STATE_SUCCEEDED` gets a tuned model and an endpoint, one that reaches `JOB_STATE_FAILED` an error;
- `GET .../tuningJobs?pageSize=N&pageToken=T`: the jobs, newest first, a page at a time;
- `POST .../tuningJobs/ID:cancel`.
A request without a bearer token gets a 401. Scripted replies (`push`, e.g. `permission_denied(...)`) come first,
so tests meet the real error shapes; every request is recorded.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from teachkit.testing.scripted_server import RecordedRequest, Reply, ReplyLike, ScriptedServer

_JOBS = re.compile(
    r"^/v1[a-z0-9]*/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/tuningJobs"
    r"(?:/(?P<id>[^/:]+))?(?P<cancel>:cancel)?$"
)


def error(status: int, message: str, status_name: str, details: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"error": {"code": status, "message": message, "status": status_name}}
    if details:
        body["error"]["details"] = details
    return Reply(status, body)


def permission_denied(permission: str = "aiplatform.tuningJobs.create", resource: str = "projects/p") -> Reply:
    """A 403 as Vertex AI sends it: the message and an ErrorInfo detail both name the permission."""
    return error(
        403,
        f"Permission '{permission}' denied on resource '//aiplatform.googleapis.com/{resource}' (or it may not "
        "exist).",
        "PERMISSION_DENIED",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
          "domain": "aiplatform.googleapis.com", "metadata": {"permission": permission, "resource": resource}}],
    )


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class FakeVertexTuning(ScriptedServer):
    def __init__(
        self,
        *,
        states: Sequence[str] = ("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"),
        dataset_exists: Callable[[str], bool] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.states = tuple(states)
        self.dataset_exists = dataset_exists
        self.jobs: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}
        self._ids = itertools.count(4_000_000_000_000_000_001)
        self._jobs_lock = threading.Lock()

    # --- protocol ------------------------------------------------------------------------------------------------

    def route(self, method: str, path: str) -> bool:
        return bool(_JOBS.match(path)) and method in ("GET", "POST")

    def precheck(self, request: RecordedRequest) -> Reply | None:
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return error(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
        return None

    def failure(self, status: int) -> Reply:
        return error(status, "injected failure", "UNAVAILABLE" if status >= 500 else "RESOURCE_EXHAUSTED")

    def render(self, reply: ReplyLike | None, request: RecordedRequest) -> Reply:
        if isinstance(reply, Reply):
            return reply
        if isinstance(reply, dict):
            status = reply["error"].get("code", 500) if isinstance(reply.get("error"), dict) else 200
            return Reply(status, reply)
        return self.serve(request)

    # --- the jobs ------------------------------------------------------------------------------------------------

    def serve(self, request: RecordedRequest) -> Reply:
        url = urlsplit(request.path)
        match = _JOBS.match(url.path)
        assert match is not None
        parent = f"projects/{match['project']}/locations/{match['location']}"
        with self._jobs_lock:
            if request.method == "POST" and match["id"] is None:
                return self.create(parent, request.body)
            if request.method == "GET" and match["id"] is None:
                return self.list(parent, parse_qs(url.query))
            name = f"{parent}/tuningJobs/{match['id']}"
            if name not in self.jobs:
                return error(404, f"The TuningJob does not exist: {name}", "NOT_FOUND")
            if match["cancel"]:
                self.set_state(name, "JOB_STATE_CANCELLED")
                return Reply(200, {})
            self._reads[name] += 1
            self.set_state(name, self.states[min(self._reads[name], len(self.states) - 1)])
            return Reply(200, self.jobs[name])

    def create(self, parent: str, body: Any) -> Reply:
        if not isinstance(body, dict) or not body.get("baseModel"):
            return error(400, "baseModel is required.", "INVALID_ARGUMENT")
        spec = body.get("supervisedTuningSpec") or {}
        uris = [spec.get("trainingDatasetUri"), spec.get("validationDatasetUri")]
        if not uris[0]:
            return error(400, "supervisedTuningSpec.trainingDatasetUri is required.", "INVALID_ARGUMENT")
        for uri in filter(None, uris):
            if not str(uri).startswith("gs://"):
                return error(400, f"Dataset URI {uri} must start with gs://.", "INVALID_ARGUMENT")
            if self.dataset_exists is not None and not self.dataset_exists(uri):
                return error(400, f"Dataset {uri} does not exist or is not readable.", "FAILED_PRECONDITION")
        job_id = str(next(self._ids))
        name = f"{parent}/tuningJobs/{job_id}"
        job = {
            "name": name,
            "baseModel": body["baseModel"],
            "supervisedTuningSpec": spec,
            "tunedModelDisplayName": body.get("tunedModelDisplayName", ""),
            "createTime": now(),
            "updateTime": now(),
        }
        self.jobs[name] = job
        self._reads[name] = 0
        self.set_state(name, self.states[0])
        return Reply(200, job)

    def list(self, parent: str, query: dict[str, list[str]]) -> Reply:
        size = int(query.get("pageSize", ["50"])[0])
        start = int(query.get("pageToken", ["0"])[0] or 0)
        names = [name for name in reversed(list(self.jobs)) if name.startswith(parent + "/")]
        page = [self.jobs[name] for name in names[start: start + size]]
        body: dict[str, Any] = {"tuningJobs": page}
        if start + size < len(names):
            body["nextPageToken"] = str(start + size)
        return Reply(200, body)

    def set_state(self, name: str, state: str) -> None:
        """Put a job into `state` (tests may call it to jump ahead)."""
        job = self.jobs[name]
        job["state"] = state
        job["updateTime"] = now()
        parent, _, job_id = name.rpartition("/tuningJobs/")
        if state == "JOB_STATE_SUCCEEDED":
            job["tunedModel"] = {"model": f"{parent}/models/{job_id}@1", "endpoint": f"{parent}/endpoints/{job_id}"}
            job["endTime"] = now()
        elif state == "JOB_STATE_FAILED":
            job["error"] = {"code": 3, "message": "Training data has an invalid example on line 1."}
            job["endTime"] = now()
