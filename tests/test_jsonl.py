import json

import pytest

from teachkit.errors import InputError
from teachkit.jsonl import ResumableAppender, atomic_write, read_json_lines, read_records, write_records
from teachkit.records import Episode, Sample


def episode(i: int) -> Episode:
    return Episode(id=f"ep-{i}", seed=i, teacher="random", settings_hash="abc", max_steps=10)


def test_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    assert write_records(path, [episode(0), episode(1)]) == 2
    assert [e.id for e in read_records(path, Episode)] == ["ep-0", "ep-1"]


def test_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "eps.jsonl"
    good = episode(0).model_dump_json()
    bad = json.loads(good)
    del bad["seed"]
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"eps.jsonl:2: seed: missing field"):
        list(read_records(path, Episode))


def test_other_schema_version(tmp_path):
    path = tmp_path / "eps.jsonl"
    record = json.loads(episode(0).model_dump_json())
    record["schema_version"] = 99
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError, match=r":1: schema_version: .*99 is not supported"):
        list(read_records(path, Episode))


def test_not_jsonl(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(InputError, match=r"x.jsonl:1: expected a JSON object"):
        list(read_json_lines(path))
    path.write_text("hello world\n")
    with pytest.raises(InputError, match=r"x.jsonl:1: not valid JSON"):
        list(read_records(path, Sample))
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        list(read_json_lines(path))


def test_truncated_last_line(tmp_path):
    path = tmp_path / "eps.jsonl"
    path.write_text(episode(0).model_dump_json() + "\n" + episode(1).model_dump_json()[:30])
    with pytest.raises(InputError, match=r"eps.jsonl:2: truncated last line"):
        list(read_records(path, Episode))


def test_atomic_write_leaves_nothing_when_the_writer_raises(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("previous content\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as handle:
            handle.write("partial")
            raise RuntimeError("boom")
    assert path.read_text() == "previous content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_appender_refuses_to_overwrite_without_resume(tmp_path):
    path = tmp_path / "eps.jsonl"
    write_records(path, [episode(0)])
    with pytest.raises(InputError, match="--resume"):
        ResumableAppender(path, Episode, resume=False)
    with ResumableAppender(path, Episode, resume=False, overwrite=True) as appender:
        assert appender.done_ids == set()
    assert path.read_text() == ""


def test_appender_recovers_a_torn_line_and_knows_what_is_done(tmp_path):
    path = tmp_path / "eps.jsonl"
    path.write_text(episode(0).model_dump_json() + "\n" + episode(1).model_dump_json()[:40])
    warnings = []
    with ResumableAppender(path, Episode, resume=True, warn=warnings.append) as appender:
        assert appender.done_ids == {"ep-0"}
        assert appender.recovered_torn_line
        appender.append(episode(1))
    assert len(warnings) == 1 and "torn last line" in warnings[0]
    assert [e.id for e in read_records(path, Episode)] == ["ep-0", "ep-1"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    import os

    path = tmp_path / "out.jsonl"
    with atomic_write(path) as handle:
        handle.write("x\n")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
