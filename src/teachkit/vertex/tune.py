"""`crafter finetune --backend vertex`: check the tuning data, upload it to Cloud Storage and start (and with
`--wait`, follow) a Vertex AI supervised tuning job on it; any pipeline's vertex-format data (`crafter format`,
`sgd format`) goes the same way. Configured by `[vertex]` and `[gcp]`.

    data --(sha256 in the object name)--> gs://BUCKET/PREFIX/train-<hash>.jsonl --> tunings.tune(...) --> job record
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import TeachkitError
from teachkit.manifest import now_iso
from teachkit.records import StudentPrompt, TuningJob
from teachkit.settings import Settings
from teachkit.sft_data.tokens import tuning_cost_usd
from teachkit.sft_data.validation import ValidationReport, check_training_files
from teachkit.vertex.clients import GcpClients, open_clients, require_gcp
from teachkit.vertex.job_records import (
    job_facts,
    record_path_for,
    refresh_record,
    state_name,
    write_job_record,
)
from teachkit.vertex.jobs import job_request, start_job, wait_for_job
from teachkit.vertex.upload import ensure_uploaded, plan_upload


def finetune_on_vertex(
    train: Path,
    validation: Path | None,
    settings: Settings,
    output: Output,
    *,
    prompt_of: Callable[[Path, str], StudentPrompt | None],
    wait: bool = False,
    dry_run: bool = False,
) -> VertexResult:
    """Check the files (vertex examples only), then tune on them; `prompt_of(train, target)` says how the data
    prompts the model (the pipeline knows: Crafter's observation format, for one), kept in the job record."""
    require_gcp(settings)  # before reading a gigabyte of data
    reports = check_training_files(train, validation, settings, output, target="vertex")
    return tune_on_vertex(train, validation, reports, settings, output, wait=wait, dry_run=dry_run,
                          prompt=prompt_of(train, reports[0].target or "vertex"))


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
    prompt: StudentPrompt | None = None,
) -> VertexResult:
    """Upload the checked data and start (and with `wait`, follow) a supervised tuning job; `prompt` (how the data
    prompts the model) goes into the job record for `crafter eval`."""
    require_gcp(settings)
    config = settings.vertex
    train_upload = plan_upload(train, "train", reports[0], settings)
    validation_upload = plan_upload(validation, "validation", reports[1], settings) if validation else None
    uploads = [u for u in (train_upload, validation_upload) if u is not None]
    display_name = config.display_name or f"crafter-{Path(train).stem}"[:128]
    request = job_request(settings, train_upload, validation_upload, display_name)
    price = config.price_per_million_training_tokens
    cost = tuning_cost_usd(train_upload.tokens, config.epochs, price)
    summary: dict[str, Any] = {
        "backend": "vertex",
        "project": settings.gcp.project,
        "location": settings.gcp.location,
        "base_model": config.base_model,
        "display_name": display_name,
        "train_examples": train_upload.examples,
        "training_tokens": train_upload.tokens,
        "tokens_counted_by": reports[0].token_method,
        "epochs": config.epochs,
        "estimated_cost_usd": round(cost, 4),
        "cost_estimate": f"estimate: {train_upload.tokens:,} training tokens x {config.epochs} epochs x "
                         f"${price:g} per million tokens (vertex.price_per_million_training_tokens)",
    }
    tables = {"uploads": [], "job_request": flatten_request(request)}
    if dry_run:
        summary["dry_run"] = "nothing uploaded, no job started"
        tables["uploads"] = [upload.row() for upload in uploads]
        return VertexResult(summary, tables)

    clients = clients or open_clients(settings)
    chunk = config.upload_chunk_mib * 1024 * 1024
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
        hyper_parameters=dict(request["config"]), prompt=prompt, created_at=now_iso(), updated_at=now_iso(),
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
    # The record, not the bare endpoint: it carries the prompt the tuned model was trained with.
    summary["next"] = f"teachkit crafter eval --policy {path}"
    return VertexResult(summary, tables)


def flatten_request(request: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows = []
    for key, value in request.items():
        if isinstance(value, dict):
            rows.extend(flatten_request(value, f"{prefix}{key}."))
        else:
            rows.append({"field": f"{prefix}{key}", "value": value})
    return rows

