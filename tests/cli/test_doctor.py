import json

from typer.testing import CliRunner

from teachkit.cli.main import app

runner = CliRunner()


def test_doctor_json_reports_versions_device_and_key_names_only(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-doctor-secret")
    result = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    assert report["packages"]["teachkit"]
    assert report["torch"]["device"] in {"cpu", "cuda", "mps"}
    assert report["keys"]["GEMINI_API_KEY"] is True and report["keys"]["OPENAI_API_KEY"] is False
    assert report["dirs"]["cache_dir"]["writable"] is True
    assert "AIza-doctor-secret" not in result.output
    assert result.exit_code == (0 if report["ok"] else 1)


def test_doctor_flags_an_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["doctor", "--json"], env={"TEACHKIT_PATHS__OUTPUT_DIR": str(blocker / "sub")})
    report = json.loads(result.stdout)
    assert report["dirs"]["output_dir"]["writable"] is False
    assert result.exit_code == 1
