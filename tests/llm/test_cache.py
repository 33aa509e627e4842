import subprocess
import sys
import textwrap

from teachkit.llm import ModelResult
from teachkit.llm.cache import (
    ResponseCache,
    cache_path,
    cache_stats,
    clear_cache,
    endpoint_for_key,
    request_key,
)
from tests.llm.llm_helpers import ask


def test_the_key_changes_with_everything_that_changes_the_reply():
    base = request_key("gemini", "gemini-2.5-flash", None, ask("q"))
    assert base == request_key("gemini", "gemini-2.5-flash", None, ask("q"))
    variants = [
        request_key("vertex", "gemini-2.5-flash", None, ask("q")),
        request_key("gemini", "gemini-2.5-pro", None, ask("q")),
        request_key("gemini", "gemini-2.5-flash", "http://proxy:1", ask("q")),
        request_key("gemini", "gemini-2.5-flash", None, ask("q2")),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", temperature=0.5)),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", max_output_tokens=9)),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", stop=["x"])),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", json_schema={"type": "object"})),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", enum=["a", "b"])),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", thinking_budget=0)),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", include_thoughts=True)),
        request_key("gemini", "gemini-2.5-flash", None, ask("q", sample_index=1)),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_credentials_in_an_endpoint_never_reach_the_key():
    assert endpoint_for_key("https://user:s3cret@host:8443/v1/?key=s3cret#x") == "https://host:8443/v1"
    assert endpoint_for_key(None) is None


def test_cache_round_trip_stats_and_clear(tmp_path):
    cache = ResponseCache(cache_path(tmp_path))
    cache.put("k1", ModelResult(text="a", provider="gemini", model="m1", attempts=3, latency_s=2.0))
    cache.put("k2", ModelResult(text="b", provider="openai", model="m2"))
    cache.put("k3", ModelResult(error="boom", error_kind="server", provider="gemini", model="m1"))
    hit = cache.get("k1")
    assert hit.text == "a" and hit.from_cache and hit.attempts == 0 and hit.latency_s == 0.0
    assert cache.get("k3") is None and cache.get("missing") is None
    cache.close()
    stats = cache_stats(tmp_path)
    assert stats["entries"] == 2 and stats["models"] == {"gemini:m1": 1, "openai:m2": 1}
    assert clear_cache(tmp_path, "gemini:m1") == 1
    assert cache_stats(tmp_path)["models"] == {"openai:m2": 1}
    assert clear_cache(tmp_path) == 1 and cache_stats(tmp_path)["entries"] == 0


def test_two_processes_write_the_same_file_at_once(tmp_path):
    writer = textwrap.dedent(f"""
        from teachkit.llm import ModelResult
        from teachkit.llm.cache import ResponseCache
        cache = ResponseCache({str(cache_path(tmp_path))!r})
        for i in range(150):
            cache.put(f"child-{{i}}", ModelResult(text=str(i), provider="p", model="m"))
        cache.close()
    """)
    child = subprocess.Popen([sys.executable, "-c", writer])
    cache = ResponseCache(cache_path(tmp_path))
    for i in range(150):
        cache.put(f"parent-{i}", ModelResult(text=str(i), provider="p", model="m"))
    assert child.wait(timeout=60) == 0
    assert cache.get("child-149").text == "149" and cache.get("parent-0").text == "0"
    cache.close()
    assert cache_stats(tmp_path)["entries"] == 300
