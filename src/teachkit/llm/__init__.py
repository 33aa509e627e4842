"""Teachers and judges: one async interface over Gemini, OpenAI-compatible servers and local transformers models."""
