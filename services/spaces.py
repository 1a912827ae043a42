"""Data spaces: the configured views of the lake that tokens are bound to."""

from __future__ import annotations

from dataclasses import dataclass

from radlake.config import Settings, SpaceConfig


@dataclass(frozen=True)
class Space:
    """One data space as the routes use it: its name and what it may see (see :class:`SpaceConfig`)."""

    name: str
    config: SpaceConfig

    @property
    def identified(self) -> bool:
        """Whether answers may carry names, IDs and real UIDs."""
        return self.config.identified


def resolve_space(settings: Settings, name: str) -> Space | None:
    """The configured space of that name, or None (the caller refuses without saying which spaces exist)."""
    config = settings.spaces.get(name)
    return Space(name, config) if config is not None else None
