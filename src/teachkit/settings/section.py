"""The base of every settings section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # Each section forbids unknown keys itself: the root's extra="forbid" does not reach nested models.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
