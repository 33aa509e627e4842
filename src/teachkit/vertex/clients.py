"""The Google Cloud side of Vertex AI tuning: which settings it needs, credentials, the two clients (Cloud Storage
and google-genai in Vertex mode), and Google API errors as one line (a 403 names the missing permission and a role
that grants it).

Credentials: `gcp.access_token` when set (e.g. `gcloud auth print-access-token`), else application default
credentials. `gcp.vertex_endpoint` / `gcp.storage_endpoint` point the clients elsewhere (a proxy, or the loopback
fakes the tests use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from teachkit.errors import ConfigError, InputError, TeachkitError
from teachkit.settings import Settings

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
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
