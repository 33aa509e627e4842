"""Teachers and judges: one async interface over Gemini, OpenAI-compatible servers and local transformers models."""

from teachkit.llm.base import Message, ModelRequest, ModelResult, Provider, ProviderError
from teachkit.llm.client import ModelClient, open_client
from teachkit.llm.ledger import CostLedger, combined_summary
from teachkit.llm.spec import ModelSpec, parse_spec

__all__ = [
    "CostLedger",
    "Message",
    "ModelClient",
    "ModelRequest",
    "ModelResult",
    "ModelSpec",
    "Provider",
    "ProviderError",
    "combined_summary",
    "open_client",
    "parse_spec",
]
