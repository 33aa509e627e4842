from pathlib import Path

import pytest

from teachkit.errors import ConfigError
from teachkit.settings import MASK, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source():
    settings = load_settings()
    assert settings.teacher.provider == "gemini"
    assert settings.crafter.rollout.episodes == 10
    assert settings.origins["crafter.rollout.episodes"] == "default"


def test_flag_beats_env_beats_dotenv_beats_toml(tmp_path, monkeypatch):
    config = write(tmp_path / "teachkit.toml", "[crafter.rollout]\nepisodes = 3\nmax_steps = 50\nseed = 7\nhistory = 2\n")
    write(tmp_path / ".env", "TEACHKIT_CRAFTER__ROLLOUT__SEED=8\nTEACHKIT_CRAFTER__ROLLOUT__HISTORY=9\n")
    monkeypatch.setenv("TEACHKIT_CRAFTER__ROLLOUT__MAX_STEPS", "60")
    monkeypatch.setenv("TEACHKIT_CRAFTER__ROLLOUT__SEED", "11")
    settings = load_settings(config, {"crafter.rollout.episodes": 5, "crafter.rollout.seed": None})
    rollout = settings.crafter.rollout
    assert rollout.episodes == 5  # flag over TOML
    assert rollout.max_steps == 60  # env over TOML
    assert rollout.seed == 11  # env over .env over TOML; a None flag is "not given"
    assert rollout.history == 9  # .env over TOML
    assert settings.origins["crafter.rollout.episodes"] == "flag"
    assert settings.origins["crafter.rollout.max_steps"] == "env TEACHKIT_CRAFTER__ROLLOUT__MAX_STEPS"
    assert settings.origins["crafter.rollout.history"] == ".env"
    assert settings.origins["crafter.rollout.difficulty"] == "default"


def test_flag_override_of_one_nested_field_keeps_the_rest_of_the_section(tmp_path):
    config = write(tmp_path / "c.toml", '[teacher]\nmodel = "gemini-2.5-pro"\ntemperature = 0.2\n')
    settings = load_settings(config, {"teacher.model": "gemini-2.5-flash-lite"})
    assert settings.teacher.model == "gemini-2.5-flash-lite"
    assert settings.teacher.temperature == 0.2
    assert settings.origins["teacher.temperature"] == str(config)


def test_teachkit_toml_in_the_working_directory_is_read(tmp_path):
    write(tmp_path / "teachkit.toml", "[gcp]\nbucket = 'my-bucket'\n")
    assert load_settings().gcp.bucket == "my-bucket"


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path):
    config = write(tmp_path / "bad.toml", "[crafter.rollout]\nepisodez = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert str(config) in message and "crafter.rollout.episodez" in message
    assert "unknown key" in message and "episodes" in message


def test_unknown_section_is_an_error(tmp_path):
    config = write(tmp_path / "bad.toml", "[crafterr]\nx = 1\n")
    with pytest.raises(ConfigError, match="crafterr: unknown key"):
        load_settings(config)


def test_bad_value_says_what_is_allowed(tmp_path):
    config = write(tmp_path / "bad.toml", "[crafter.rollout]\ndifficulty = 'brutal'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "crafter.rollout.difficulty" in str(caught.value)
    assert "'easy', 'normal' or 'hard'" in str(caught.value)


def test_bad_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("TEACHKIT_TEACHER__CONCURRENCY", "many")
    with pytest.raises(ConfigError, match="environment TEACHKIT_TEACHER__CONCURRENCY: teacher.concurrency"):
        load_settings()


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path / "x.toml", "[teacher\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_seed_pipeline_config_is_mapped_with_a_notice(tmp_path):
    config = write(
        tmp_path / "seed.toml",
        "[generation]\nmodel_name = 'gemini-2.5-pro'\nnum_rollouts = 12\nmax_turns = 300\ndifficulty = 'easy'\n"
        "[quality]\nmin_score_threshold = 4.5\nmin_achievements = 3\nenable_thinking = true\nthinking_budget = 256\n",
    )
    settings = load_settings(config)
    assert settings.teacher.model == "gemini-2.5-pro"
    assert settings.crafter.rollout.episodes == 12
    assert settings.crafter.rollout.max_steps == 300
    assert settings.crafter.rollout.difficulty == "easy"
    assert settings.crafter.filter.min_score == 4.5
    assert settings.crafter.filter.min_achievements == 3
    assert settings.crafter.rollout.enable_thinking is True
    assert settings.teacher.thinking_budget == 256
    assert len(settings.notices) == 1 and "[generation], [quality]" in settings.notices[0]



def test_vertex_keys_in_their_old_place_still_load_and_map_with_a_notice(tmp_path):
    config = write(
        tmp_path / "old.toml",
        "[crafter.format]\nprice_per_million_training_tokens = 3.0\ntarget = 'messages'\n"
        "[crafter.finetune]\nbase_model = 'gemini-2.5-flash-lite'\ndisplay_name = 'old'\nepochs = 5\n"
        "learning_rate_multiplier = 0.5\nadapter_size = 8\npoll_interval_s = 2.0\nupload_chunk_mib = 16\n",
    )
    settings = load_settings(config)
    assert settings.vertex.base_model == "gemini-2.5-flash-lite" and settings.vertex.display_name == "old"
    assert settings.vertex.learning_rate_multiplier == 0.5 and settings.vertex.adapter_size == 8
    assert settings.vertex.poll_interval_s == 2.0 and settings.vertex.upload_chunk_mib == 16
    assert settings.vertex.price_per_million_training_tokens == 3.0
    # epochs was both backends' setting: it keeps its place and also sets the Vertex job's epochs.
    assert settings.crafter.finetune.epochs == 5 and settings.vertex.epochs == 5
    assert settings.crafter.format.target == "messages"
    assert len(settings.notices) == 1
    assert "crafter.finetune.base_model -> vertex.base_model" in settings.notices[0]
    assert "crafter.finetune.epochs -> also vertex.epochs" in settings.notices[0]
    assert str(config) in settings.notices[0] and "\n" not in settings.notices[0]


def test_a_new_key_beats_its_old_place_and_old_variables_map_too(tmp_path, monkeypatch):
    config = write(tmp_path / "both.toml", "[crafter.finetune]\nbase_model = 'old'\nepochs = 5\n"
                                          "[vertex]\nbase_model = 'new'\nepochs = 2\n")
    settings = load_settings(config)
    assert settings.vertex.base_model == "new" and settings.vertex.epochs == 2
    assert settings.crafter.finetune.epochs == 5
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__POLL_INTERVAL_S", "2.5")
    settings = load_settings()
    assert settings.vertex.poll_interval_s == 2.5
    assert any("crafter.finetune.poll_interval_s -> vertex.poll_interval_s" in notice for notice in settings.notices)
    monkeypatch.setenv("TEACHKIT_CRAFTER__FINETUNE__POLL_INTERVAL_S", "soon")
    with pytest.raises(ConfigError, match="vertex.poll_interval_s"):
        load_settings()

def test_well_known_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key-123")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-456")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-1")
    write(tmp_path / ".env", "HF_TOKEN=hf_secret_789\n")
    settings = load_settings()
    assert settings.gemini_api_key.get_secret_value() == "gemini-key-456"  # GEMINI_API_KEY wins
    assert settings.gcp.project == "proj-1"
    assert settings.hf_token.get_secret_value() == "hf_secret_789"
    monkeypatch.setenv("TEACHKIT_GCP__PROJECT", "proj-2")
    assert load_settings().gcp.project == "proj-2"  # the TEACHKIT_ variable is more specific


def test_secrets_are_masked_in_dumps(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-very-secret")
    monkeypatch.setenv("TEACHKIT_JUDGE__API_KEY", "judge-very-secret")
    dump = load_settings().masked_dump()
    assert dump["gemini_api_key"] == MASK
    assert dump["judge"]["api_key"] == MASK
    assert dump["teacher"]["api_key"] is None
    assert "very-secret" not in repr(dump)


def test_the_grpo_learning_rate_defaults_to_the_training_method(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings().sgd.train.learning_rate == 3e-4  # LoRA, the default
    assert load_settings(None, {"sgd.train.use_lora": False}).sgd.train.learning_rate == 1e-5
    assert load_settings(None, {"sgd.train.learning_rate": 2e-5}).sgd.train.learning_rate == 2e-5
    monkeypatch.setenv("TEACHKIT_SGD__TRAIN__USE_LORA", "false")
    assert load_settings().sgd.train.learning_rate == 1e-5
    config = write(tmp_path / "teachkit.toml", "[sgd.train]\nuse_lora = false\nlearning_rate = 4e-5\n")
    assert load_settings(config).sgd.train.learning_rate == 4e-5
