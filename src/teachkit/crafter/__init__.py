"""Crafter: a fast deterministic text environment, teachers that play it, and the stages around their episodes."""
