"""A loopback fake of the Gemini Batch API (Developer API), for the real google-genai `client.batches`.

Beside everything `FakeGemini` answers, it serves what the SDK calls for a batch job:
- `POST .../models/{model}:batchGenerateContent` with inlined requests: creates a job and answers the long-running
  operation the service answers (`name: batches/ID`, `metadata.state: BATCH_STATE_PENDING`).
- `GET .../batches/{ID}`: the job, moving PENDING -> RUNNING -> SUCCEEDED over successive GETs (`pending_gets` and
  `running_gets` say how many GETs see each). On SUCCEEDED every request is answered as the fake's synchronous path
  would answer it (scripts, `reply_to`, `reply_fn`, thinking, injected failures and faults included), and the replies
  come back in `metadata.output.inlinedResponses` (and `response`), in request order, or in a JSONL responses file
  (`responses_file=True`) served at `.../files/{ID}:download`.
- `POST .../batches/{ID}:cancel`.

The awkward parts of the real service are kept: inlined responses do not echo the request's `metadata` (so replies
are matched by position; `echo_metadata=True` echoes it), a failed request is a `google.rpc.Status` with a gRPC code
(8 RESOURCE_EXHAUSTED, not 429) inside an otherwise successful job, and batch counts are int64 strings.

    with FakeGeminiBatch() as fake:
        fake.reply_fn = lambda request: '{"criteria": ["a", "b", "c"]}'
        fake.end_state = "BATCH_STATE_EXPIRED"        # the next jobs end so, without results
        fake.batch_creates, fake.batch_items          # the create requests, and each inlined request as answered
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from teachkit.testing.fake_gemini import FakeGemini
from teachkit.testing.scripted_server import RecordedRequest, Reply

_CREATE = re.compile(r"/models/(?P<model>[^/:]+):batchGenerateContent$")
_JOB = re.compile(r"/batches/(?P<id>[^/:]+)$")
_CANCEL = re.compile(r"/batches/(?P<id>[^/:]+):cancel$")
_DOWNLOAD = re.compile(r"/files/(?P<id>[^/:]+):download$")
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
HTTP_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
END_STATES = {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}


def timestamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class FakeBatchJob:
    id: str
    model: str
    display_name: str
    items: list[dict[str, Any]]
    headers: dict[str, str]
    created: str = field(default_factory=timestamp)
    state: str = "BATCH_STATE_PENDING"
    end_state: str = "BATCH_STATE_SUCCEEDED"
    gets: int = 0
    replies: list[dict[str, Any]] | None = None
    ended: str | None = None


class FakeGeminiBatch(FakeGemini):
    def __init__(self, *, pending_gets: int = 1, running_gets: int = 1, responses_file: bool = False,
                 echo_metadata: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.pending_gets = pending_gets
        self.running_gets = running_gets
        self.responses_file = responses_file
        self.echo_metadata = echo_metadata
        self.end_state = "BATCH_STATE_SUCCEEDED"
        self.jobs: dict[str, FakeBatchJob] = {}
        self.batch_creates: list[RecordedRequest] = []
        self.batch_items: list[RecordedRequest] = []
        self._jobs_lock = threading.Lock()

    def route(self, method: str, path: str) -> str | None | bool:
        create = _CREATE.search(path)
        if method == "POST" and create:
            return create.group("model")
        if (method == "GET" and (_JOB.search(path) or _DOWNLOAD.search(path))) or (method == "POST"
                                                                                   and _CANCEL.search(path)):
            return True
        return super().route(method, path)

    def precheck(self, request: RecordedRequest) -> Reply | None:
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and _CREATE.search(path):
            return self._create(request)
        if request.method == "POST" and (cancel := _CANCEL.search(path)):
            return self._cancel(cancel.group("id"))
        if request.method == "GET" and (download := _DOWNLOAD.search(path)):
            return self._download(download.group("id"))
        if request.method == "GET" and (job := _JOB.search(path)):
            return self._get(job.group("id"))
        return None

    # --- the endpoints -------------------------------------------------------------------------------------------

    def _create(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        batch = body.get("batch") or {}
        items = ((batch.get("inputConfig") or {}).get("requests") or {}).get("requests")
        if not isinstance(items, list) or not items:
            return Reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                         "message": "batch.input_config: inlined requests are required"}})
        job = FakeBatchJob(id=uuid.uuid4().hex[:16], model=request.model or "?",
                           display_name=str(batch.get("displayName", "")), items=items, headers=request.headers,
                           end_state=self.end_state)
        with self._jobs_lock:
            self.jobs[job.id] = job
            self.batch_creates.append(request)
        return Reply(200, self._operation(job))

    def _get(self, job_id: str) -> Reply:
        with self._jobs_lock:
            job = self.jobs.get(job_id)
            if job is None:
                return not_found(job_id)
            if job.state not in END_STATES:
                job.gets += 1
                if job.gets > self.pending_gets:
                    job.state = "BATCH_STATE_RUNNING"
                if job.gets > self.pending_gets + self.running_gets:
                    job.state, job.ended = job.end_state, timestamp()
            answer_now = job.state == "BATCH_STATE_SUCCEEDED" and job.replies is None
        if answer_now:
            replies = [self._answer_item(job, item) for item in job.items]
            with self._jobs_lock:
                job.replies = replies
        return Reply(200, self._operation(job))

    def _cancel(self, job_id: str) -> Reply:
        with self._jobs_lock:
            job = self.jobs.get(job_id)
            if job is None:
                return not_found(job_id)
            if job.state not in END_STATES:
                job.state, job.ended = "BATCH_STATE_CANCELLED", timestamp()
        return Reply(200, {})

    def _download(self, file_id: str) -> Reply:
        job = self.jobs.get(file_id.removeprefix("batch-"))
        if job is None or job.replies is None:
            return Reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"files/{file_id} not found"}})
        lines = []
        for item, reply in zip(job.items, job.replies, strict=True):
            key = (item.get("metadata") or {}).get("key")
            lines.append(json.dumps({**({"key": key} if key is not None else {}), **reply}))
        return Reply(200, ("\n".join(lines) + "\n").encode("utf-8"))

    # --- answers -------------------------------------------------------------------------------------------------

    def _answer_item(self, job: FakeBatchJob, item: dict[str, Any]) -> dict[str, Any]:
        """One inlined request answered as `:generateContent` would answer it, as a batch holds the answer."""
        synchronous = RecordedRequest("POST", f"/v1beta/models/{job.model}:generateContent", dict(job.headers),
                                      item.get("request") or {}, model=job.model)
        with self._jobs_lock:
            self.batch_items.append(synchronous)
        reply = self._next_reply(synchronous)
        answer: dict[str, Any]
        if reply.hang:
            answer = {"error": status(504, "Deadline exceeded while processing the request.")}
        elif reply.status == 200 and isinstance(reply.body, dict):
            answer = {"response": reply.body}
        elif isinstance(reply.body, dict) and isinstance(reply.body.get("error"), dict):
            error = reply.body["error"]
            # google-genai 3.x reads a per-request error's `details` as strings and refuses the Any objects of a
            # synchronous error: the fake sends code and message only, which the SDK can read.
            answer = {"error": status(reply.status, str(error.get("message", "")))}
        else:
            answer = {"error": status(500 if reply.status == 200 else reply.status, "Internal error encountered.")}
        if self.echo_metadata and item.get("metadata") is not None:
            answer["metadata"] = item["metadata"]
        return answer

    def _operation(self, job: FakeBatchJob) -> dict[str, Any]:
        count = len(job.items)
        failed = sum(1 for reply in job.replies or [] if "error" in reply)
        done = job.state in END_STATES
        stats = {"requestCount": str(count)}
        if job.replies is not None:
            stats.update(successfulRequestCount=str(count - failed), failedRequestCount=str(failed))
        elif job.state == "BATCH_STATE_RUNNING" or job.state == "BATCH_STATE_PENDING":
            stats["pendingRequestCount"] = str(count)
        metadata: dict[str, Any] = {
            "@type": BATCH_TYPE, "model": f"models/{job.model}", "displayName": job.display_name,
            "createTime": job.created, "updateTime": job.ended or timestamp(), "batchStats": stats,
            "state": job.state, "name": f"batches/{job.id}",
        }
        operation: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": metadata}
        if done:
            operation["done"] = True
            metadata["endTime"] = job.ended
        if job.replies is not None:
            output = ({"responsesFile": f"files/batch-{job.id}"} if self.responses_file
                      else {"inlinedResponses": {"inlinedResponses": job.replies}})
            metadata["output"] = output
            operation["response"] = {"@type": OUTPUT_TYPE, **output}
        elif done:
            why = {"BATCH_STATE_EXPIRED": "The batch expired before it could be processed.",
                   "BATCH_STATE_CANCELLED": "The batch was cancelled.",
                   "BATCH_STATE_FAILED": "The batch failed."}[job.state]
            operation["error"] = {"code": 13 if job.state == "BATCH_STATE_FAILED" else 1, "message": why}
        return operation


def status(http_status: int, message: str) -> dict[str, Any]:
    """A google.rpc.Status, the shape of a failed request inside a batch."""
    return {"code": HTTP_TO_GRPC.get(http_status, 2), "message": message}


def not_found(job_id: str) -> Reply:
    return Reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"batches/{job_id} not found"}})
