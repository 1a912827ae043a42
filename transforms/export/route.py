"""The export's de-identification for routed copies: the same policy, keys and encoder as ``radlake export``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from radlake.config import Settings
from radlake.errors import DataError
from radlake.pseudonym import load_key
from transforms.deid import DeidPolicy, project_key
from transforms.export.instance import export_instance


def routing_deidentifier(settings: Settings) -> Callable[[str], Callable[[bytes, dict], bytes]]:
    """Project name → a function from a stored file's bytes to its de-identified copy.

    The copy is keyed for the project exactly as a cohort export of that name (the same new UIDs and
    pseudonyms); the patient is keyed by the instance's study (a routed instance has no cohort row). An
    instance the export would quarantine (burned-in text) or fail raises :class:`DataError` with the reason.
    """
    site_key = load_key(settings)

    @cache
    def for_project(project: str) -> Callable[[bytes, dict], bytes]:
        policy = DeidPolicy(key=project_key(site_key, project))

        def deidentify(data: bytes, row: dict) -> bytes:
            outcome = export_instance(
                data, None, policy, str(row.get("study_instance_uid") or ""), allow_burned_in=False
            )
            if outcome.data is None:
                raise DataError(f"{outcome.outcome}: {outcome.reason}")
            return outcome.data

        return deidentify

    return for_project
