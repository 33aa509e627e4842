"""The Gemini Batch API: many requests as one job, at the batch price, for work that can wait (rubrics, judging).

    batch = BatchClient(client, job_record_path(out), poll=settings.batch, output=output, stage={...})
    results = await batch.generate_batch(requests)   # what client.generate_batch returns, under the same cache keys

A call answers from the response cache what it holds, fetches from a recorded job what that job already covers,
and submits one job for the rest (inlined requests, `client.aio.batches.create`). The job is written to a job record
beside the output (atomically) before any waiting: a run stopped after submitting (Ctrl-C, a kill, `--no-wait`)
picks the same job up again instead of paying for it twice. Replies are read by the code that reads a synchronous
reply (`gemini.read_response`), cached under the synchronous client's keys (so a later synchronous run asks nothing
again), and priced at `prices.MODEL.batch` times the standard price. A reply cut by thinking before its answer is
asked once more with more room, in a second job, as the synchronous client does.

A failed request inside a job is a result with an error, counted like a synchronous failure. A job that ends FAILED,
CANCELLED or EXPIRED raises `ProviderFault` and leaves the record, so that `--resume` submits its requests again.

Only the Gemini Developer API (`gemini:MODEL`): Vertex AI batch prediction reads and writes JSONL in Cloud Storage,
which this module does not do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from teachkit.console import Output
from teachkit.errors import InputError, ProviderFault
from teachkit.jsonl import atomic_write
from teachkit.llm.base import FATAL_KINDS, ModelRequest, ModelResult, ProviderError
from teachkit.llm.cache import endpoint_for_key, request_key
from teachkit.llm.client import ModelClient
from teachkit.llm.ledger import CostLedger
from teachkit.llm.thinking import cut_retry_tokens
from teachkit.manifest import now_iso
from teachkit.settings import BatchSettings, Settings

RECORD_VERSION = 1
RECORD_SUFFIX = ".batch.json"
SUCCEEDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
ENDED_WITHOUT_RESULTS = {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
# The Developer API takes at most 20 MB of inlined requests per job; bigger jobs go through the Files API.
MAX_INLINE_BYTES = 20_000_000
POLL_GROWTH = 1.5
# A per-request error in a job is a google.rpc.Status with a gRPC code; as the HTTP status that code stands for, it
# reads like the same failure of a synchronous request.
GRPC_TO_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501,
                13: 500, 14: 503, 15: 500, 16: 401}


class SubmittedJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the job's resource name, batches/ID")
    model: str
    created: str
    keys: list[str] = Field(description="cache keys of the job's requests, in the order they were sent")
    state: str = "JOB_STATE_PENDING"


class JobRecord(BaseModel):
    """What a run submitted, written before it waits: enough to find the jobs again and to know what they hold."""

    model_config = ConfigDict(extra="forbid")

    version: int = RECORD_VERSION
    spec: str = Field(description="provider:model of the jobs")
    endpoint: str | None = Field(None, description="the API endpoint when not Google's (no credentials)")
    out: str = Field(description="the output file the jobs' results are for")
    stage: dict[str, Any] = Field(default_factory=dict, description="the command that submitted them, for fetch")
    jobs: list[SubmittedJob] = Field(default_factory=list)

    @property
    def model_spec(self) -> str:
        """The spec that opens a client on the jobs' model and endpoint."""
        return self.spec + (f"@{self.endpoint}" if self.endpoint else "")


class BatchPending(Exception):
    """Jobs submitted (or still running) and not waited for (`--no-wait`): not a failure; pick them up later."""

    def __init__(self, record_path: Path, jobs: list[SubmittedJob]):
        self.record_path = record_path
        self.jobs = jobs
        names = ", ".join(f"{job.name} ({job.state})" for job in jobs)
        super().__init__(f"batch job {names} not finished; recorded in {record_path}")


def job_record_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + RECORD_SUFFIX)


def read_job_record(path: Path) -> JobRecord:
    try:
        return JobRecord.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{path}: cannot read the batch job record ({error.strerror})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise InputError(f"{path}: not a batch job record ({where}: {first['msg']}); give the .batch.json file "
                         "written beside the output") from None


def write_job_record(path: Path, record: JobRecord) -> None:
    with atomic_write(path) as handle:
        handle.write(record.model_dump_json(indent=1))
        handle.write("\n")


def require_batch_provider(client: ModelClient, flag: str = "--batch") -> None:
    name = client.provider.name
    if name == "vertex":
        raise InputError(f"{flag}: {client.spec} is a Vertex AI model, and Vertex AI batch prediction (JSONL in Cloud "
                         "Storage) is not supported; use gemini:MODEL with GEMINI_API_KEY, or drop " + flag)
    if name != "gemini":
        raise InputError(f"{flag}: {client.spec}: batch jobs need a Gemini model (gemini:MODEL); drop {flag} for "
                         "other providers")


class BatchClient:
    """A `ModelClient` stand-in whose `generate_batch` runs batch jobs: the same results, cache keys and ledger
    counts as the synchronous client's, at the batch price.

    `wait` False (`--no-wait`): `generate_batch` raises `BatchPending` once its jobs are submitted and recorded,
    unless a recorded job already finished. `submit` False (`batch fetch`): only recorded jobs are fetched; requests
    that none of them holds are an InputError (the input or the settings changed since submission).
    """

    def __init__(
        self,
        client: ModelClient,
        record_path: Path,
        *,
        poll: BatchSettings | None = None,
        wait: bool = True,
        submit: bool = True,
        output: Output | None = None,
        stage: dict[str, Any] | None = None,
    ):
        require_batch_provider(client)
        self.client = client
        self.record_path = Path(record_path)
        self.poll = poll or BatchSettings()
        self.wait = wait
        self.submit = submit
        self.output = output or Output()
        provider = client.provider
        price = client.ledger.price
        self.ledger = CostLedger(provider.name, provider.model, price.for_batch() if price is not None else None)
        self.max_cost = client.max_cost
        self.jobs_submitted = 0
        self.jobs_fetched = 0
        spec, endpoint = f"{provider.name}:{provider.model}", endpoint_for_key(getattr(provider, "base_url", None))
        if self.record_path.exists():
            self.record = read_job_record(self.record_path)
            if (self.record.spec, self.record.endpoint) != (spec, endpoint):
                raise InputError(
                    f"{self.record_path}: its jobs ran on {self.record.spec}"
                    + (f"@{self.record.endpoint}" if self.record.endpoint else "")
                    + f", not {spec}; use the same --judge-model, or --overwrite to submit anew"
                )
        else:
            self.record = JobRecord(spec=spec, endpoint=endpoint, out=str(stage.get("out", "")) if stage else "",
                                    stage=stage or {})

    # --- what callers of a ModelClient use -----------------------------------------------------------------------

    @property
    def spec(self) -> str:
        return self.client.spec

    @property
    def settings(self) -> Any:
        return self.client.settings

    @property
    def budget_exceeded(self) -> bool:
        return self.max_cost is not None and self.ledger.cost_usd >= self.max_cost

    def sent_options(self) -> dict[str, float | int | None]:
        return self.client.sent_options()

    async def aclose(self) -> None:
        await self.client.aclose()

    def finished(self) -> None:
        """The results are written: the record has served its purpose."""
        self.record_path.unlink(missing_ok=True)

    # --- the batch path ------------------------------------------------------------------------------------------

    async def generate_batch(
        self, requests: list[ModelRequest], on_result: Callable[[int, ModelResult], None] | None = None
    ) -> list[ModelResult]:
        """Every request answered through batch jobs (or the cache); results in the order of the requests."""
        provider = self.client.provider
        sent = [self.client.with_defaults(request) for request in requests]
        keys = [request_key(provider.name, provider.model, provider.cache_variant, request) for request in sent]
        results = await self._answer(sent, keys, use_cache=True)
        # As the synchronous client does: a reply cut by thinking before its answer is asked once more with more
        # room, and cached under the first request's key.
        rooms = {i: cut_retry_tokens(provider.name, provider.model, sent[i].max_output_tokens or 0)
                 for i, result in enumerate(results) if result.error_kind == "max_tokens"}
        retry = {i: sent[i].model_copy(update={"max_output_tokens": room}) for i, room in rooms.items() if room}
        if retry:
            indices = list(retry)
            retry_requests = [retry[i] for i in indices]
            retry_keys = [request_key(provider.name, provider.model, provider.cache_variant, r) for r in retry_requests]
            for index, second in zip(indices, await self._answer(retry_requests, retry_keys, use_cache=False),
                                     strict=True):
                self.ledger.count_cut()
                second.usage = second.usage + results[index].usage  # the cut reply's thinking is billed too
                results[index] = second
        for index, result in enumerate(results):
            if result.error_kind == "max_tokens":
                result.error = self.client._cut_message(sent[index], result, rooms.get(index))
            if result.error is not None:
                result.error = self.client._scrub(result.error)
            if self.client.cache is not None and result.ok and not result.from_cache:
                self.client.cache.put(keys[index], result)
            self.ledger.add(result)
            if on_result is not None:
                on_result(index, result)
        return results

    async def _answer(self, sent: list[ModelRequest], keys: list[str], *, use_cache: bool) -> list[ModelResult]:
        answers: list[ModelResult | None] = [None] * len(sent)
        cache = self.client.cache if use_cache else None
        if cache is not None:
            for index, key in enumerate(keys):
                answers[index] = cache.get(key)
        # One request per distinct key: a batch may hold the same request twice.
        missing: dict[str, int] = {}
        for index, key in enumerate(keys):
            if answers[index] is None:
                missing.setdefault(key, index)
        if not missing:
            return [answer for answer in answers if answer is not None]
        holders: list[tuple[SubmittedJob, list[str]]] = []
        placed: set[str] = set()
        for job in self.record.jobs:
            held = [key for key in job.keys if key in missing and key not in placed]
            if held:
                holders.append((job, held))
                placed.update(held)
        unplaced = [key for key in missing if key not in placed]
        if unplaced:
            if not self.submit:
                raise InputError(
                    f"{self.record_path}: its jobs do not hold {len(unplaced)} of the {len(missing)} requests asked "
                    "for now (the input, --limit or the judge settings changed since they were submitted); rerun "
                    "the command with the settings of the submission, or with --batch to submit the rest"
                )
            job = await self._submit([sent[missing[key]] for key in unplaced], unplaced)
            holders.append((job, unplaced))
        else:
            for job, _ in holders:
                self.output.info(f"batch job {job.name}: submitted {job.created}, fetched again (not resubmitted)")
        replies = await asyncio.gather(*(self._results(job, {key: sent[missing[key]] for key in held})
                                         for job, held in holders))
        by_key: dict[str, ModelResult] = {}
        for reply in replies:
            by_key.update(reply)
        out: list[ModelResult] = []
        for index, key in enumerate(keys):
            answer = answers[index]
            if answer is None:
                answer = by_key[key] if missing[key] == index else by_key[key].model_copy(deep=True)
            out.append(answer)
        return out

    def _sdk(self) -> Any:
        # The provider's own genai client: the same key, endpoint, timeout and connection settings as synchronous
        # requests.
        return self.client.provider._sdk()

    async def _submit(self, requests: list[ModelRequest], keys: list[str]) -> SubmittedJob:
        from teachkit.llm.gemini import GeminiProvider

        provider = self.client.provider
        inlined = [{"contents": GeminiProvider._contents(request), "config": GeminiProvider._config(request),
                    "metadata": {"key": key}} for request, key in zip(requests, keys, strict=True)]
        size = len(json.dumps(inlined, ensure_ascii=False).encode("utf-8"))
        if size > MAX_INLINE_BYTES:
            raise InputError(
                f"--batch: {len(requests)} requests are {size / 1e6:.1f} MB, more than the {MAX_INLINE_BYTES / 1e6:g} "
                "MB one batch job takes inline; split the input (--limit N, then --resume --limit 2N, ...)"
            )
        display = f"teachkit {Path(self.record.out).name or 'batch'} {len(self.record.jobs) + 1}"
        job = await self._call(
            "submit", lambda: self._sdk().aio.batches.create(model=provider.model, src=inlined,
                                                              config={"display_name": display}),
            retry_transient=True)
        submitted = SubmittedJob(name=job.name, model=provider.model, created=now_iso(), keys=list(keys),
                                 state=state_name(job.state) or "JOB_STATE_PENDING")
        self.record.jobs.append(submitted)
        write_job_record(self.record_path, self.record)
        self.jobs_submitted += 1
        later = (f"--resume (or `teachkit batch fetch {self.record_path}`)"
                 if self.record.stage.get("command") == "sgd rubric" else "the same command")
        self.output.info(
            f"submitted batch job {submitted.name}: {len(keys)} requests to {self.spec} at the batch price; "
            f"recorded in {self.record_path}, so a stopped run picks it up with {later}"
        )
        if not self.wait:
            raise BatchPending(self.record_path, [submitted])
        return submitted

    async def _results(self, job: SubmittedJob, wanted: dict[str, ModelRequest]) -> dict[str, ModelResult]:
        done = await self._wait(job)
        self.jobs_fetched += 1
        replies = await self._read_output(job, done)
        results: dict[str, ModelResult] = {}
        provider = self.client.provider
        for position, key in enumerate(job.keys):
            if key not in wanted:
                continue
            reply = replies.get(key, replies.get(position))
            if reply is None:
                results[key] = ModelResult(provider=provider.name, model=provider.model, attempts=1,
                                           error=f"batch job {job.name} returned no reply for this request",
                                           error_kind="empty")
            else:
                results[key] = self._result(reply, wanted[key])
        return results

    def _result(self, reply: Any, request: ModelRequest) -> ModelResult:
        from teachkit.llm.gemini import provider_error, read_response

        provider = self.client.provider
        if reply.error is not None or reply.response is None:
            error = reply.error
            code = GRPC_TO_HTTP.get(getattr(error, "code", None) or 2, 500)
            failure = provider_error(api_error(code, getattr(error, "message", None) or "no response",
                                               getattr(error, "details", None)), provider.name, provider.model)
            return ModelResult(provider=provider.name, model=provider.model, attempts=1, error=str(failure),
                               error_kind=failure.kind)
        result = read_response(reply.response, request, provider.name, provider.model)
        result.attempts = 1
        return result

    async def _read_output(self, job: SubmittedJob, done: Any) -> dict[str | int, Any]:
        """Replies by key when the service echoes it, and by position (responses come in request order)."""
        from google.genai import types

        dest = done.dest
        replies: dict[str | int, Any] = {}
        if dest is not None and dest.inlined_responses is not None:
            for position, reply in enumerate(dest.inlined_responses):
                key = (reply.metadata or {}).get("key")
                replies[key if isinstance(key, str) else position] = reply
            return replies
        if dest is not None and dest.file_name:
            data = await self._call("download results of", lambda: self._sdk().aio.files.download(file=dest.file_name),
                                    retry_transient=True)
            for position, line in enumerate(data.decode("utf-8").splitlines()):
                if not line.strip():
                    continue
                item = json.loads(line)
                reply = types.InlinedResponse.model_validate(
                    {"response": item.get("response"), "error": item.get("error")})
                key = item.get("key")
                replies[key if isinstance(key, str) else position] = reply
            return replies
        raise ProviderFault(f"batch job {job.name} succeeded without results (no inlined responses, no responses "
                            "file); check it in Google AI Studio")

    async def _wait(self, job: SubmittedJob) -> Any:
        """The job once it ended: polled with a growing interval, its state shown; fatal end states raise."""
        delay = self.poll.poll_initial_s
        polls = 0
        with self.output.progress(f"batch job {job.name}", total=len(job.keys), unit="requests") as task:
            while True:
                current = await self._call("read the state of", lambda: self._sdk().aio.batches.get(name=job.name),
                                           retry_transient=True)
                polls += 1
                state = state_name(current.state) or "JOB_STATE_UNSPECIFIED"
                if state != job.state:
                    job.state = state
                    write_job_record(self.record_path, self.record)
                task.update(state=state.removeprefix("JOB_STATE_"), polls=polls,
                            since_submitted=age_of(job.created))
                if state in SUCCEEDED:
                    task.advance(len(job.keys), state="SUCCEEDED")
                    return current
                if state in ENDED_WITHOUT_RESULTS:
                    self.record.jobs.remove(job)
                    write_job_record(self.record_path, self.record)
                    why = f" ({current.error.message})" if current.error is not None and current.error.message else ""
                    raise ProviderFault(
                        f"batch job {job.name} ended {state.removeprefix('JOB_STATE_')}{why}; none of its "
                        f"{len(job.keys)} requests got a reply: rerun with --resume to submit them again"
                    )
                if not self.wait:
                    raise BatchPending(self.record_path, [job])
                await asyncio.sleep(delay)
                delay = min(self.poll.poll_max_s, delay * POLL_GROWTH)

    async def _call(self, what: str, call: Any, *, retry_transient: bool) -> Any:
        """One SDK call; a refusal (429, 5xx) is tried again after a growing pause, up to the role's max_attempts.
        A timeout or a dropped connection is tried again only where repeating it cannot create a second job."""
        from teachkit.llm.gemini import provider_error

        provider = self.client.provider
        settings = self.client.settings
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except Exception as raised:  # noqa: BLE001 - translated, never swallowed: provider_error re-raises the unknown
                error = provider_error(raised, provider.name, provider.model)
            resend = error.retryable and (what != "submit" or error.status is not None)
            if error.kind in FATAL_KINDS or not (retry_transient and resend) or attempt >= settings.max_attempts:
                raise ProviderFault(self.client._scrub(self._fault_message(what, error))) from None
            await asyncio.sleep(min(settings.retry_max_delay_s, error.retry_after_s
                                    or settings.retry_initial_delay_s * 2 ** (attempt - 1)))

    def _fault_message(self, what: str, error: ProviderError) -> str:
        if what == "submit":
            maybe = "" if error.status is not None else " (the job may have been created anyway: see Google AI Studio)"
            return f"could not submit the batch job: {error}{maybe}"
        return f"could not {what} the batch job: {error}; the job goes on: rerun with --resume to pick it up"


def api_error(code: int, message: str, details: Any) -> Any:
    from google.genai import errors as genai_errors

    body: dict[str, Any] = {"code": code, "message": message, "status": ""}
    if details:
        body["details"] = details
    return genai_errors.APIError(code, {"error": body})


def state_name(state: Any) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def age_of(created: str) -> str:
    from datetime import datetime, timezone

    from teachkit.console import format_duration

    try:
        seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created)).total_seconds()
    except ValueError:
        return "?"
    return format_duration(max(0.0, seconds))


async def job_states(client: ModelClient, record: JobRecord) -> list[dict[str, Any]]:
    """Each recorded job's state as the service sees it now (`teachkit batch status`)."""
    from teachkit.llm.gemini import provider_error

    sdk = client.provider._sdk()
    rows = []
    for job in record.jobs:
        try:
            current = await sdk.aio.batches.get(name=job.name)
        except Exception as raised:  # noqa: BLE001 - translated, never swallowed: provider_error re-raises the unknown
            error = provider_error(raised, client.provider.name, client.provider.model)
            raise ProviderFault(client._scrub(f"could not read batch job {job.name}: {error}")) from None
        rows.append({"job": job.name, "state": state_name(current.state) or "?", "requests": len(job.keys),
                     "submitted": job.created, "age": age_of(job.created),
                     "updated": str(current.update_time or "")})
    return rows


def record_status(path: Path, settings: Settings) -> list[dict[str, Any]]:
    """`teachkit batch status`: the state of every job a record holds."""
    from teachkit.llm.client import open_client

    record = read_job_record(path)
    client = open_client(record.model_spec, settings, role="judge", use_cache=False)

    async def run() -> list[dict[str, Any]]:
        try:
            return await job_states(client, record)
        finally:
            await client.aclose()

    return asyncio.run(run())
