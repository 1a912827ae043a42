"""Who answers for each layer's assets (shown as owners in the Dagster UI)."""

from __future__ import annotations

BRONZE_OWNERS = ["team:data-platform"]
SILVER_OWNERS = ["team:data-platform", "team:data-stewards"]
GOLD_OWNERS = ["team:analytics"]
