"""The registry of model providers: every `PROVIDER` of a `PROVIDER:MODEL[@URL]` spec names an entry point of the
group `teachkit.providers`, the built-in ones (gemini, vertex, openai, local) included, so that a separate package
adds a provider the same way teachkit registers its own (the simonw/llm plugin pattern):

    # the plugin's pyproject.toml
    [project.entry-points."teachkit.providers"]
    myprov = "myprov_teachkit:build"

`build(context: ProviderContext) -> ProviderBuild` checks what the provider needs (keys, a project: a
`ConfigError` naming `context.where`), imports its SDK, and returns the `Provider` (`llm/base.py`) without sending
anything; the client adds the cache, retries, rate limits and the ledger. docs/providers.md has a whole plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from teachkit.errors import ConfigError
from teachkit.llm.base import Provider
from teachkit.settings import ModelSettings, PriceSettings, Settings

ENTRY_POINT_GROUP = "teachkit.providers"


@dataclass(frozen=True)
class ProviderContext:
    """What a provider's build function is given.

    `role_key`: the api_key of the role's settings (`[teacher]`/`[judge]`) when the role is configured for this
    provider, else None (a key is never sent to another provider's server). `where`: the flag or setting and the
    spec, for error messages.
    """

    model: str
    base_url: str | None
    settings: Settings
    role: str
    defaults: ModelSettings
    role_key: str | None
    where: str

    @property
    def price(self) -> PriceSettings | None:
        """The configured price of this model (`[prices]`), for the cost ledger and --max-cost."""
        return self.settings.price_for(self.model)


@dataclass
class ProviderBuild:
    """A provider ready to serve requests. `secrets` are redacted from every log line and error message; `price`
    None means the model costs nothing per token (a local one); `timeout_s` None means no per-request timeout."""

    provider: Provider
    secrets: list[str] = field(default_factory=list)
    price: PriceSettings | None = None
    timeout_s: float | None = None


ProviderFactory = Callable[[ProviderContext], ProviderBuild]


def provider_names() -> tuple[str, ...]:
    """The providers a spec may name: the entry points of `teachkit.providers` of every installed distribution."""
    names = sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})
    if not names:
        raise ConfigError(f"no model providers registered (entry point group {ENTRY_POINT_GROUP}); teachkit's "
                          "install is incomplete: reinstall it (pip install -e . in a source checkout)")
    return tuple(names)


def provider_factory(name: str) -> ProviderFactory:
    """The build function registered as `name`; two distributions registering the same name is a ConfigError."""
    points = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == name]
    if not points:
        raise ConfigError(f"unknown provider {name!r}; registered: {', '.join(provider_names())}")
    values = {point.value for point in points}
    if len(values) > 1:
        raise ConfigError(f"provider {name!r} is registered twice ({' and '.join(sorted(values))}); uninstall one")
    return points[0].load()
