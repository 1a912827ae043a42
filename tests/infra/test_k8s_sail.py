"""infra/k8s-sail: radlake with Sail in cluster mode (a server pod that starts worker pods) instead of JVM Spark.

The overlay is rendered with ``kubectl kustomize``; its Sail settings are checked against the configuration keys
of the installed pysail, and the server command runs for real with the manifest's cluster settings (in Sail's
local-cluster mode: the same driver and workers, inside one process).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from infra_files import INFRA, kustomize, policy_sources

OVERLAY = INFRA / "k8s-sail"


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    objects = kustomize(OVERLAY)
    if objects is None:
        pytest.skip("kubectl is not installed: the Sail overlay is rendered with `kubectl kustomize`")
    return objects


def _one(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _server(objects: list[dict]) -> dict:
    (container,) = _one(objects, "Deployment", "sail-server")["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_the_overlay_swaps_jvm_spark_for_sail(rendered: list[dict], check_command) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    assert not {n for n in names if n[1] in ("spark-connect", "delta-jars") and n[0] != "NetworkPolicy"}
    assert {("Deployment", "code-location"), ("Deployment", "ui-proxy"), ("Deployment", "sail-server")} <= names
    server = _server(rendered)
    check_command(server["command"])
    env = _env(server)
    assert env["SAIL_MODE"]["value"] == "kubernetes-cluster"
    # Worker pods run exactly the server's image, renamed and pinned by the overlay's kustomization.
    assert env["SAIL_KUBERNETES__IMAGE"]["value"] == server["image"]
    assert server["image"].startswith("registry.") and server["image"].rsplit(":", 1)[1] == "0.1.0"
    assert env["SAIL_KUBERNETES__NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["SAIL_KUBERNETES__DRIVER_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["SAIL_CLUSTER__DRIVER_EXTERNAL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_sail_settings_are_keys_pysail_knows(rendered: list[dict]) -> None:
    """Each SAIL_SECTION__KEY names a configuration key of the installed pysail (a typo would be ignored)."""
    import mmap

    import pysail

    native = next(Path(pysail.__file__).parent.glob("_native*.so"))
    names = [n for n in _env(_server(rendered)) if n.startswith("SAIL_") and n != "SAIL_MODE"]
    assert len(names) >= 8
    with native.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as binary:
        for name in names:
            section, key = name.removeprefix("SAIL_").lower().split("__", 1)
            assert binary.find(f"{section}.{key}".encode()) >= 0, f"{name}: pysail has no setting {section}.{key}"
        assert binary.find(b"kubernetes-cluster") >= 0


def test_workers_get_the_lake_keys_and_nothing_else(rendered: list[dict]) -> None:
    template = json.loads(_env(_server(rendered))["SAIL_KUBERNETES__WORKER_POD_TEMPLATE"]["value"])
    spec = template["spec"]
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["name"] == "worker"  # Sail merges the template into its container of this name
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"COMPUTE_AWS_ACCESS_KEY_ID", "COMPUTE_AWS_SECRET_ACCESS_KEY"}  # the compute user's key
    assert all("value" not in e for e in container["env"]), "secret values never sit in the template"
    assert container["envFrom"] == [{"configMapRef": {"name": "radlake-env"}}]
    server_secrets = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in _server(rendered)["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert server_secrets == {"COMPUTE_AWS_ACCESS_KEY_ID", "COMPUTE_AWS_SECRET_ACCESS_KEY"}


def test_only_the_server_may_make_pods(rendered: list[dict]) -> None:
    worker_sa = _one(rendered, "ServiceAccount", "sail-worker")
    assert worker_sa["automountServiceAccountToken"] is False
    assert _env(_server(rendered))["SAIL_KUBERNETES__WORKER_SERVICE_ACCOUNT_NAME"]["value"] == "sail-worker"
    bindings = [o for o in rendered if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [(b["kind"], [s["name"] for s in b["subjects"]]) for b in bindings] == [("RoleBinding", ["sail-server"])]
    (rule,) = _one(rendered, "Role", "sail-server")["rules"]
    assert rule["resources"] == ["pods"] and "*" not in rule["verbs"]


def test_radlake_yaml_points_at_the_sail_server(rendered: list[dict], tmp_path: Path) -> None:
    from radlake.config import load_settings

    text = _one(rendered, "ConfigMap", "radlake-config")["data"]["radlake.yaml"]
    overlay = yaml.safe_load(text)
    production = yaml.safe_load((INFRA / "radlake.production.yaml").read_text())
    assert overlay.pop("spark") == "sc://sail-server:50051"
    production.pop("spark")
    assert overlay == production, "the overlay's radlake.yaml differs from the production one beyond `spark`"
    config = tmp_path / "radlake.yaml"
    config.write_text(text)
    host, port = load_settings(config).spark.removeprefix("sc://").split(":")
    service = _one(rendered, "Service", host)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_sail_answers_radlake_only(rendered: list[dict]) -> None:
    """The Sail server takes sessions from the code location (and its own workers); workers from Sail only."""
    policies = [o for o in rendered if o["kind"] == "NetworkPolicy"]
    assert policy_sources(policies, {"app.kubernetes.io/name": "sail-server"}, 50051) == {"code-location", "sail"}
    # A worker's ports (chosen by Sail) open to the server and the other workers, to no one else.
    assert policy_sources(policies, {"app.kubernetes.io/name": "sail"}, 40000) == {"sail-server", "sail"}
    exposed = {
        o["metadata"]["name"]
        for o in rendered
        if o["kind"] == "Service" and o["spec"].get("type", "ClusterIP") != "ClusterIP"
    }
    assert exposed == {"ui-proxy", "dicom-receiver"}


# --- the server command, run for real -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sail_server(rendered: list[dict]) -> Iterator[int]:
    """The manifest's server command and cluster settings, in local-cluster mode on loopback."""
    server = _server(rendered)
    port = _free_port()
    argv = [a if a != "0.0.0.0" else "127.0.0.1" for a in server["command"]]
    argv[argv.index("--port") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAIL_")}
    for name, spec in _env(server).items():
        if name.startswith("SAIL_CLUSTER__") and "value" in spec and "HOST" not in name:
            env[name] = spec["value"]
    env["SAIL_MODE"] = "local-cluster"
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / argv[0]), *argv[1:]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the Sail server did not open its port"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=3)  # its shutdown waits on idle workers; nothing of it is read after the test
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.integration
@pytest.mark.slow
def test_the_server_runs_a_shuffle_with_the_manifest_settings(sail_server: int) -> None:
    from radlake.config import Settings
    from radlake.spark import spark_session

    spark = spark_session(Settings(spark=f"sc://127.0.0.1:{sail_server}"))
    try:
        rows = spark.range(0, 10_000, numPartitions=8).selectExpr("id % 7 AS k", "id").groupBy("k").sum("id")
        got = {r["k"]: r["sum(id)"] for r in rows.collect()}
    finally:
        spark.stop()
    expected: dict[int, int] = {}
    for i in range(10_000):
        expected[i % 7] = expected.get(i % 7, 0) + i
    assert got == expected


def test_the_server_and_its_workers_run_least_privileged(rendered: list[dict]) -> None:
    server = _one(rendered, "Deployment", "sail-server")["spec"]["template"]["spec"]
    template = json.loads(_env(_server(rendered))["SAIL_KUBERNETES__WORKER_POD_TEMPLATE"]["value"])["spec"]
    for pod, container in ((server, server["containers"][0]), (template, template["containers"][0])):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
