"""teachkit from Python: one function per pipeline stage, in `teachkit.api.crafter` and `teachkit.api.sgd`.

    from teachkit.api import crafter, sgd
    from teachkit.settings import load_settings

Each function takes the settings (`load_settings(config_file, overrides)`, as the CLI builds them from its flags)
and the same request object the CLI builds, runs the same core function as the command, and returns the summary
the command prints (`StageSummary`). docs/python-api.md has a runnable example.

The functions live here rather than on `teachkit.crafter` and `teachkit.sgd` themselves because their names
(`rollout`, `filter`, `compile`, `train`, ...) are the names of those packages' modules: importing
`teachkit.crafter.rollout` binds the module to that attribute of the package, which would replace a function of
the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageSummary:
    """What a command prints at the end: key/value `data` and named `tables` (lists of rows)."""

    title: str
    data: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
