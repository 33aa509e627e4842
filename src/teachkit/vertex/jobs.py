"""Vertex AI supervised tuning jobs through google-genai in Vertex mode (`client.tunings`): the request, starting a
job, following it to a final state, `finetune status` and `finetune list`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError, TeachkitError
from teachkit.settings import Settings
from teachkit.vertex.clients import GcpClients, google_error, http_transport_errors, open_clients, require_gcp
from teachkit.vertex.job_records import (
    job_facts,
    read_job_record,
    refresh_record,
    state_name,
    write_job_record,
)
from teachkit.vertex.upload import Upload

ADAPTER_SIZES = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR", 8: "ADAPTER_SIZE_EIGHT",
                 16: "ADAPTER_SIZE_SIXTEEN"}
FINAL_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                "JOB_STATE_PARTIALLY_SUCCEEDED"}


def job_request(settings: Settings, train: Upload, validation: Upload | None, display_name: str) -> dict[str, Any]:
    """The arguments of `client.tunings.tune(...)`, as plain data (printed by --dry-run, kept in the record)."""
    config = settings.vertex
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



def wait_for_job(clients: GcpClients, name: str, settings: Settings, output: Output,
                 on_change: Callable[[Any], None], *, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll until the job reaches a final state; a failed poll (network, 5xx) is retried at the next interval."""
    from google.genai import errors

    interval = settings.vertex.poll_interval_s
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
        # A record carries the prompt the tuned model was trained with; a bare endpoint needs --prompt-like.
        facts["next"] = (f"teachkit crafter eval --policy {job}" if record is not None else
                         f"teachkit crafter eval --policy vertex:{facts['endpoint']} --prompt-like TRAINING_DATA")
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
