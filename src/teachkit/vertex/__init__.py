"""Vertex AI supervised tuning of Gemini on any pipeline's vertex-format data (`sft_data`), configured by `[vertex]`
and `[gcp]`: `clients` (settings, credentials, the two Google clients, errors as one line), `upload` (resumable
Cloud Storage upload under content-hashed names), `jobs` (start, follow, status, list), `job_records` (the
`<data>.tuning-<ID>.json` record) and `tune` (the `crafter finetune --backend vertex` run); what Vertex AI refuses in
a file is a property of the vertex target format (`sft_data.limits`)."""
