"""infra/k8s: the manifests parse, hang together (names, keys, volumes) and run commands that exist."""

from __future__ import annotations

import re

import pytest
import yaml
from infra_files import INFRA, load_all

K8S = INFRA / "k8s"
WORKLOADS = {"Deployment", "StatefulSet"}


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        assert path.is_file(), f"kustomization lists {resource}, which does not exist"
        docs += load_all(path)
    listed = {K8S / r for r in kustomization["resources"]}
    assert set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"} == listed, "a manifest is not in kustomization"
    return docs


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _containers(objects: list[dict]):
    for o in objects:
        if o["kind"] in WORKLOADS:
            for c in o["spec"]["template"]["spec"]["containers"]:
                yield o, c


def test_every_object_is_well_formed(objects: list[dict]) -> None:
    for o in objects:
        assert {"apiVersion", "kind", "metadata"} <= set(o), o
        assert o["metadata"].get("name")
    for o in objects:
        if o["kind"] in WORKLOADS:
            selector = o["spec"]["selector"]["matchLabels"]
            labels = o["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), o["metadata"]["name"]


def test_the_deployment_has_every_part(objects: list[dict]) -> None:
    workloads = {o["metadata"]["name"] for o in objects if o["kind"] in WORKLOADS}
    assert {"code-location", "dagster-webserver", "dagster-daemon", "spark-connect", "dagster-postgres"} <= workloads
    assert _by_kind(objects, "Namespace")


def test_services_select_pods_that_exist(objects: list[dict]) -> None:
    pod_labels = [o["spec"]["template"]["metadata"]["labels"] for o in objects if o["kind"] in WORKLOADS]
    for name, svc in _by_kind(objects, "Service").items():
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), f"service {name} selects no pod"


def test_commands_exist(objects: list[dict], check_command) -> None:
    images = {c["image"] for _, c in _containers(objects)}
    assert {"radlake", "radlake-spark"} <= images
    kustomized = {i["name"] for i in yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]}
    for _, container in _containers(objects):
        if container["image"] in ("radlake", "radlake-spark"):
            assert container["image"] in kustomized
            check_command(container["command"])


def test_secrets_come_from_one_secret_and_config_keys_exist(objects: list[dict]) -> None:
    configmaps = _by_kind(objects, "ConfigMap")
    assert not _by_kind(objects, "Secret"), "secrets are created by the operator, not shipped"
    text = "\n".join(yaml.safe_dump(o) for o in objects)
    refs = set(re.findall(r"secretKeyRef:\s*\n\s*key: (\S+)\s*\n\s*name: (\S+)", text))
    assert refs and refs <= {
        (k, "radlake-secrets") for k in ("DAGSTER_PG_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    for _, container in _containers(objects):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["key"] in configmaps[ref["name"]]["data"], ref
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps
            if "secretRef" in source:
                assert source["secretRef"]["name"] == "radlake-secrets"
    documented = (K8S / "kustomization.yaml").read_text()
    for key in ("DAGSTER_PG_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert f"--from-literal={key}=" in documented


def test_volumes_refer_to_claims_and_configmaps_that_exist(objects: list[dict]) -> None:
    claims = set(_by_kind(objects, "PersistentVolumeClaim"))
    configmaps = _by_kind(objects, "ConfigMap")
    for o in objects:
        if o["kind"] not in WORKLOADS:
            continue
        spec = o["spec"]["template"]["spec"]
        templates = {t["metadata"]["name"] for t in o["spec"].get("volumeClaimTemplates", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in templates, (o["metadata"]["name"], mount)
                volume = volumes.get(mount["name"], {})
                if "configMap" in volume and "subPath" in mount:
                    assert mount["subPath"] in configmaps[volume["configMap"]["name"]]["data"]
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_config_copies_match_the_repository_files(objects: list[dict]) -> None:
    configmaps = _by_kind(objects, "ConfigMap")
    pairs = [
        (configmaps["radlake-config"]["data"]["radlake.yaml"], INFRA / "radlake.production.yaml"),
        (configmaps["dagster-config"]["data"]["dagster.yaml"], INFRA / "dagster" / "dagster.yaml"),
        (configmaps["dagster-config"]["data"]["workspace.yaml"], INFRA / "dagster" / "workspace.yaml"),
    ]
    for embedded, path in pairs:
        assert yaml.safe_load(embedded) == yaml.safe_load(path.read_text()), f"configmap copy of {path.name} drifted"


def test_radlake_yaml_names_the_spark_service(objects: list[dict], tmp_path) -> None:
    from radlake.config import load_settings

    config = tmp_path / "radlake.yaml"
    config.write_text(_by_kind(objects, "ConfigMap")["radlake-config"]["data"]["radlake.yaml"])
    settings = load_settings(config)
    host, port = settings.spark.removeprefix("sc://").split(":")
    spark = _by_kind(objects, "Service")[host]
    assert int(port) in [p["port"] for p in spark["spec"]["ports"]]
    env = _by_kind(objects, "ConfigMap")["radlake-env"]["data"]
    assert env["RADLAKE_CODE_LOCATION_HOST"] in _by_kind(objects, "Service")
    assert env["DAGSTER_PG_HOST"] in _by_kind(objects, "Service")
