"""Where the deployment files are and what the radlake image holds: shared by the tests of infra/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
IMAGE_ROOT = "/opt/radlake"  # where infra/docker/Dockerfile puts the repository
VENV_BIN = Path(sys.executable).parent
ENTRY_POINTS = ("dagster", "dagster-webserver", "dagster-daemon", "dbt", "radlake", "sail")
IMAGE_FILES = {
    "/opt/dagster/workspace.yaml": INFRA / "dagster" / "workspace.yaml",
    "/opt/dagster/home/dagster.yaml": INFRA / "dagster" / "dagster.yaml",
}
"""Files the Dockerfile copies to fixed places outside the repository folder."""


def kustomize(folder: Path) -> list[dict] | None:
    """The objects ``kubectl kustomize FOLDER`` renders (images renamed, namespace set, patches applied), or
    None when kubectl is not installed."""
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


def load_all(path: Path) -> list:
    """Every YAML document of a file (empty documents dropped)."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def command_paths(command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf command of a click/typer command tree, as a tuple of names."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in subcommands.items():
            yield from command_paths(sub, (*prefix, name))
    else:
        yield prefix


def image_path(path: str) -> Path | None:
    """The repository file an absolute path inside the radlake image comes from (None if not from the repo)."""
    if path.startswith(IMAGE_ROOT + "/"):
        return ROOT / path.removeprefix(IMAGE_ROOT + "/")
    return IMAGE_FILES.get(path)


def leading_words(args: list[str]) -> tuple[str, ...]:
    """The subcommand words before the first option."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    return tuple(words)


def policy_sources(policies: list[dict], pod: dict[str, str], port: int) -> set[str]:
    """Which pods (by app.kubernetes.io/name) may open ``port`` of a pod with labels ``pod``; "*" is anyone."""
    found: set[str] = set()
    for policy in policies:
        if not policy["spec"]["podSelector"].get("matchLabels", {}).items() <= pod.items():
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if "from" not in rule:
                found.add("*")
            for peer in rule.get("from", []):
                if "ipBlock" in peer or "namespaceSelector" in peer:
                    found.add("*")
                else:
                    found.add(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
    return found


def _selects(selector: dict, pod: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions with In) selects labels ``pod``."""
    if not selector.get("matchLabels", {}).items() <= pod.items():
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", f"unsupported selector operator {expr['operator']}"
        if pod.get(expr["key"]) not in expr["values"]:
            return False
    return True


def policy_destinations(policies: list[dict], pod: dict[str, str]) -> set[tuple[str, int | None]]:
    """Where a pod with labels ``pod`` may connect: (peer, port) pairs, port None for any.

    A peer is a pod name (app.kubernetes.io/name) of the namespace, ``ns:<name>`` for a namespace selector (with
    ``/<k8s-app>`` when it names pods there), or ``*`` for an ipBlock (anywhere). Egress is open (``{("*",
    None)}``) when no policy with policyTypes Egress selects the pod.
    """
    selecting = [
        p for p in policies if "Egress" in p["spec"].get("policyTypes", []) and _selects(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return {("*", None)}
    found: set[tuple[str, int | None]] = set()
    for policy in selecting:
        for rule in policy["spec"].get("egress", []):
            ports = [p["port"] for p in rule.get("ports", [])] or [None]
            peers = []
            for peer in rule.get("to", []) or [{"ipBlock": {}}]:
                if "ipBlock" in peer:
                    peers.append("*")
                elif "namespaceSelector" in peer:
                    ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    app = peer.get("podSelector", {}).get("matchLabels", {}).get("k8s-app")
                    peers.append(f"ns:{ns}" + (f"/{app}" if app else ""))
                else:
                    peers.append(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            found |= {(peer, port) for peer in peers for port in ports}
    return found
