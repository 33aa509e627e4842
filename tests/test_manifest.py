import hashlib
import json

from teachkit.manifest import manifest_path, redact_argv, write_manifest
from teachkit.settings import load_settings


def test_manifest_records_inputs_counts_and_masks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-secret-value")
    source = tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("")
    path = write_manifest(out, settings=load_settings(), inputs=[source], counts={"records": 1}, started_at="t0")
    assert path == manifest_path(out) == tmp_path / "out.jsonl.manifest.json"
    text = path.read_text()
    assert "AIza-secret-value" not in text
    document = json.loads(text)
    assert document["inputs"] == [{"path": str(source), "sha256": hashlib.sha256(b'{"a": 1}\n').hexdigest()}]
    assert document["counts"] == {"records": 1}
    assert document["settings"]["gemini_api_key"] == "**********"
    assert document["teachkit_version"]


def test_secret_flags_are_redacted_from_the_command_line():
    argv = ["teachkit", "ask", "hi", "--api-key", "sk-123", "--token=abc", "--model", "x"]
    assert redact_argv(argv) == ["teachkit", "ask", "hi", "--api-key", "**********", "--token=**********", "--model", "x"]
