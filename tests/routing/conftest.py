"""Fixtures for routing tests: a fresh lake with a routing section, DCMTK storescp peers stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from routing_harness import StoreSCP, free_port


@pytest.fixture()
def peers(tmp_path: Path) -> Iterator[dict[str, StoreSCP]]:
    """Two peers (not started): ``ai`` and ``archive``, each on its own free loopback port."""
    made = {name: StoreSCP(tmp_path / f"peer-{name}", name.upper(), free_port()) for name in ("ai", "archive")}
    yield made
    for peer in made.values():
        peer.stop()
