"""Test doubles over real protocols, for teachkit's tests and benchmarks and for users testing their own setups:
loopback fakes of the Gemini REST API and of an OpenAI-compatible server that the real SDKs talk to."""

from teachkit.testing.fake_gemini import FakeGemini
from teachkit.testing.fake_openai import FakeOpenAI
from teachkit.testing.scripted_server import RecordedRequest, Reply, ScriptedServer

__all__ = ["FakeGemini", "FakeOpenAI", "RecordedRequest", "Reply", "ScriptedServer"]
