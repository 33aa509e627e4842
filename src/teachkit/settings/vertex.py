"""Settings of Google Cloud (`[gcp]`: project, bucket, credentials) and Vertex AI tuning (`[vertex]`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from teachkit.settings.section import Section


class GcpSettings(Section):
    project: str | None = Field(None, description="Google Cloud project for Vertex AI (or GOOGLE_CLOUD_PROJECT)")
    location: str = Field("us-central1", description="Vertex AI region of tuning jobs and endpoints")
    bucket: str | None = Field(None, description="bucket for tuning data, without gs://")
    prefix: str = Field("teachkit", description="object prefix inside the bucket")
    access_token: SecretStr | None = Field(
        None, description="OAuth access token (gcloud auth print-access-token); else application default credentials"
    )
    vertex_endpoint: str | None = Field(None, description="Vertex AI API endpoint override (a proxy or a test fake)")
    storage_endpoint: str | None = Field(None, description="Cloud Storage endpoint override (an emulator)")


class VertexSettings(Section):
    """Vertex AI supervised tuning of Gemini (`crafter finetune --backend vertex`) on any pipeline's vertex-format
    data; where the job runs and the data goes is `[gcp]` (docs/crafter-training.md)."""

    base_model: str = Field("gemini-2.5-flash", description="base model to tune")
    display_name: str | None = Field(None, description="tuned model name; default crafter-<data file stem>")
    epochs: int = Field(3, gt=0, description="passes over the training data")
    learning_rate_multiplier: float = Field(1.0, gt=0, description="learning-rate multiplier")
    adapter_size: Literal[1, 2, 4, 8, 16] = Field(4, description="LoRA adapter size")
    poll_interval_s: float = Field(30.0, gt=0, description="seconds between status checks of --wait")
    upload_chunk_mib: int = Field(8, gt=0, description="resumable upload chunk size in MiB (each chunk is retried)")
    price_per_million_training_tokens: float = Field(
        5.0, ge=0, description="USD per million training tokens for the cost estimate; check Vertex AI pricing"
    )
