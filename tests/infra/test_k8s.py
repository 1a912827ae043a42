"""infra/k8s: the manifests parse, hang together (names, keys, volumes) and run commands that exist; only the
UI proxy and the DICOM port are reachable from outside, images are pinned, each container has its own secrets."""

from __future__ import annotations

import re

import pytest
import yaml
from infra_files import INFRA, kustomize, load_all, policy_destinations, policy_sources

K8S = INFRA / "k8s"
WORKLOADS = {"Deployment", "StatefulSet"}
SECRET_KEYS = (
    "DAGSTER_PG_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "COMPUTE_AWS_ACCESS_KEY_ID",
    "COMPUTE_AWS_SECRET_ACCESS_KEY",
    "RECEIVER_AWS_ACCESS_KEY_ID",
    "RECEIVER_AWS_SECRET_ACCESS_KEY",
    "RADLAKE_PSEUDONYM_KEY",
    "PGPASSWORD",
    "RADLAKE_ALERT_WEBHOOK",
    "RADLAKE_SERVICE_TOKENS",
)


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
    assert {"code-location", "dagster-webserver", "dagster-daemon", "spark-connect", "dagster-postgres",
            "data-services"} <= workloads  # fmt: skip
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
    assert refs and refs <= {(k, "radlake-secrets") for k in SECRET_KEYS}
    for _, container in _containers(objects):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["key"] in configmaps[ref["name"]]["data"], ref
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps
            assert "secretRef" not in source, "a whole secret in one container: give it its keys only"
    documented = (K8S / "kustomization.yaml").read_text()
    for key in SECRET_KEYS:
        assert f"--from-literal={key}=" in documented
    assert "RADLAKE_PSEUDONYM_SALT" not in text


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
    nginx = configmaps["ui-proxy-config"]["data"]["dagster.conf"]
    assert nginx == (INFRA / "nginx" / "dagster.conf").read_text(), "the proxy's nginx config drifted from compose's"
    services = configmaps["ui-proxy-config"]["data"]["services.conf"]
    assert services == (INFRA / "nginx" / "services.conf").read_text(), "the services' nginx config drifted"


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


# --- exposure, pins and secrets (issue 12, item 6) -------------------------------------------------------------

SECRETS_OF = {
    "code-location": {
        "DAGSTER_PG_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "RADLAKE_PSEUDONYM_KEY",
        "PGPASSWORD",
        "RADLAKE_ALERT_WEBHOOK",
    },
    "dagster-webserver": {"DAGSTER_PG_PASSWORD"},
    "dagster-daemon": {"DAGSTER_PG_PASSWORD"},
    "dagster-postgres": {"DAGSTER_PG_PASSWORD"},
    # Each user of the object store its own key (infra/objectstore/): the receiver's reaches two bronze tables.
    "spark-connect": {"COMPUTE_AWS_ACCESS_KEY_ID", "COMPUTE_AWS_SECRET_ACCESS_KEY"},
    "dicom-receiver": {"RECEIVER_AWS_ACCESS_KEY_ID", "RECEIVER_AWS_SECRET_ACCESS_KEY"},
    "ui-proxy": set(),
    # The data services read the lake and append to audit/service_requests: for now with the pipeline's key.
    "data-services": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RADLAKE_PSEUDONYM_KEY", "RADLAKE_SERVICE_TOKENS"},
    "sail-server": {"COMPUTE_AWS_ACCESS_KEY_ID", "COMPUTE_AWS_SECRET_ACCESS_KEY"},
}
PUBLIC = {("ui-proxy", 8443), ("ui-proxy", 8444), ("dicom-receiver", 11112)}
"""(pod, port) pairs anyone may reach; every other port answers radlake's own pods only."""


@pytest.fixture(scope="module")
def rendered(objects: list[dict]) -> list[dict]:
    """What `kubectl kustomize infra/k8s` makes of the manifests (the raw files where kubectl is missing)."""
    return kustomize(K8S) or objects


def _pod_name(workload: dict) -> str:
    return workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]


def _secret_keys(pod_spec: dict) -> set[str]:
    keys = set()
    for container in pod_spec["containers"]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add(ref["key"])
    return keys


def test_only_the_ui_proxy_and_the_dicom_port_leave_the_cluster(rendered: list[dict]) -> None:
    exposed = {
        o["metadata"]["name"]
        for o in rendered
        if o["kind"] == "Service" and o["spec"].get("type", "ClusterIP") in ("NodePort", "LoadBalancer")
    }
    assert exposed == {"ui-proxy", "dicom-receiver"}
    assert not [o for o in rendered if o["kind"] in ("Ingress", "Route")]
    for o in rendered:
        if o["kind"] in WORKLOADS:
            spec = o["spec"]["template"]["spec"]
            assert not spec.get("hostNetwork"), o["metadata"]["name"]
            for c in spec["containers"]:
                assert all("hostPort" not in p for p in c.get("ports", [])), o["metadata"]["name"]
    webserver = _by_kind(rendered, "Service")["webserver"]
    assert webserver["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert all(p["port"] != 4040 for p in _by_kind(rendered, "Service")["spark-connect"]["spec"]["ports"])


def test_network_policies_close_every_other_port(rendered: list[dict]) -> None:
    policies = [o for o in rendered if o["kind"] == "NetworkPolicy"]
    deny = [
        p["spec"]["policyTypes"]
        for p in policies
        if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] and "egress" not in p["spec"]
    ]
    assert ["Ingress"] in deny, "a default-deny policy for every pod"
    reachable = {}
    for o in rendered:
        if o["kind"] not in WORKLOADS:
            continue
        labels = o["spec"]["template"]["metadata"]["labels"]
        for c in o["spec"]["template"]["spec"]["containers"]:
            for p in c.get("ports", []):
                reachable[(_pod_name(o), p["containerPort"])] = policy_sources(policies, labels, p["containerPort"])
    assert {k for k, v in reachable.items() if "*" in v} == PUBLIC
    assert reachable[("dagster-webserver", 3000)] == {"ui-proxy"}
    assert reachable[("code-location", 4000)] == {"dagster-webserver", "dagster-daemon"}
    assert reachable[("dagster-postgres", 5432)] == {"dagster-webserver", "dagster-daemon", "code-location"}
    assert reachable[("spark-connect", 15002)] == {"code-location"}
    assert reachable[("spark-connect", 4040)] == set(), "the Spark UI answers no one"
    assert reachable[("data-services", 8080)] == {"ui-proxy"}


def test_images_are_pinned_by_version(rendered: list[dict]) -> None:
    tags = {i["name"]: i["newTag"] for i in yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]}
    for _, container in _containers(rendered):
        image = container["image"]
        if ":" not in image:  # the raw files (no kubectl): kustomization.yaml names the tag
            image = f"{image}:{tags[image]}"
        repo, _, tag = image.rpartition(":")
        assert repo and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned to a version"


def test_each_container_gets_only_its_own_secrets(rendered: list[dict]) -> None:
    seen = {}
    for o in rendered:
        if o["kind"] not in WORKLOADS:
            continue
        spec = o["spec"]["template"]["spec"]
        seen[_pod_name(o)] = _secret_keys(spec)
        mounted = set()
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                mounted.add(volume["secret"]["secretName"])
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    mounted.add(source["secret"]["name"])
        expected = {"radlake-ui-auth", "radlake-ui-tls"} if _pod_name(o) == "ui-proxy" else set()
        assert mounted == expected, _pod_name(o)
    for name, keys in seen.items():
        assert keys == SECRETS_OF[name], f"{name} gets {sorted(keys)}, should get {sorted(SECRETS_OF[name])}"
    pseudonym_holders = {name for name, keys in seen.items() if "RADLAKE_PSEUDONYM_KEY" in keys}
    assert pseudonym_holders == {"code-location", "data-services"}


def test_kubectl_renders_the_manifests(objects: list[dict]) -> None:
    rendered = kustomize(K8S)
    if rendered is None:
        pytest.skip("kubectl is not installed: the raw manifests were checked instead")
    assert {(o["kind"], o["metadata"]["name"]) for o in rendered} == {
        (o["kind"], o["metadata"]["name"]) for o in objects
    }
    assert all(o["metadata"].get("namespace") == "radlake" for o in rendered if o["kind"] != "Namespace")


# --- least privilege (issue 32, item 8) -------------------------------------------------------------------------


def test_every_container_runs_least_privileged(rendered: list[dict]) -> None:
    for o in rendered:
        if o["kind"] not in WORKLOADS:
            continue
        name = o["metadata"]["name"]
        spec = o["spec"]["template"]["spec"]
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True and pod.get("runAsUser", 0) != 0, name
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, f"{name} needs no Kubernetes API token"
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, name
            assert sc.get("readOnlyRootFilesystem") is True, name
            assert sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"), name
            assert not sc.get("privileged"), name
            # With a read-only root, scratch space is a volume.
            assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}, name


def test_egress_is_closed_but_for_what_each_pod_needs(rendered: list[dict]) -> None:
    policies = [o for o in rendered if o["kind"] == "NetworkPolicy"]
    dns = {("ns:kube-system/kube-dns", 53)}
    store = {("ns:storage", 9000)}
    expected = {
        "dicom-receiver": dns | store,  # the hostile-bytes parser: the object store only
        "ui-proxy": dns | {("dagster-webserver", 3000), ("data-services", 8080)},
        "data-services": dns | store,  # reads the lake, appends its audit rows
        "dagster-webserver": dns | {("code-location", 4000), ("dagster-postgres", 5432)},
        "dagster-daemon": dns | {("code-location", 4000), ("dagster-postgres", 5432)},
        "dagster-postgres": dns,
        "spark-connect": dns | store,
        "code-location": dns
        | store
        | {("dagster-postgres", 5432), ("spark-connect", 15002), ("sail-server", 50051), ("*", 5432), ("*", 443)},
    }
    for o in rendered:
        if o["kind"] not in WORKLOADS:
            continue
        labels = o["spec"]["template"]["metadata"]["labels"]
        assert policy_destinations(policies, labels) == expected[_pod_name(o)], _pod_name(o)
    # Every port a pod may open is one its peer listens on (ingress policies agree).
    for pod, destinations in expected.items():
        for peer, port in destinations:
            if peer in expected and port is not None:
                assert pod in policy_sources(policies, {"app.kubernetes.io/name": peer}, port), (pod, peer, port)


def test_object_store_policies_give_each_user_its_part_of_the_lake(objects: list[dict], tmp_path) -> None:
    """The receiver may touch the two bronze DICOM tables (their paths from the catalog) and nothing else."""
    import fnmatch
    import json

    from radlake import catalog
    from radlake.config import load_settings

    config = tmp_path / "radlake.yaml"
    config.write_text(_by_kind(objects, "ConfigMap")["radlake-config"]["data"]["radlake.yaml"])
    settings = load_settings(config)
    bucket = settings.lake.removeprefix("s3://").partition("/")[0]
    policies = {p.stem: json.loads(p.read_text()) for p in (INFRA / "objectstore").glob("*-policy.json")}
    assert set(policies) == {"pipeline-policy", "compute-policy", "receiver-policy"}

    def allowed(policy: dict, action: str, key: str) -> bool:
        for st in policy["Statement"]:
            assert st["Effect"] == "Allow" and "s3:*" not in st["Action"] and "*" not in st["Action"]
            for resource in st["Resource"]:
                assert resource.startswith(f"arn:aws:s3:::{bucket}"), resource  # no other bucket, no "*"
                if action in st["Action"] and fnmatch.fnmatchcase(f"arn:aws:s3:::{bucket}/{key}", resource):
                    return True
        return False

    def key(layer: str, table: str) -> str:
        return (
            catalog.uri(settings, layer, table).removeprefix(f"s3://{bucket}/")
            + "/_delta_log/00000000000000000001.json"
        )

    receiver, compute, pipeline = policies["receiver-policy"], policies["compute-policy"], policies["pipeline-policy"]
    for table in ("dicom_files", "dicom_instances"):
        assert allowed(receiver, "s3:PutObject", key("bronze", table))
        assert allowed(receiver, "s3:GetObject", key("bronze", table))
        assert not allowed(receiver, "s3:DeleteObject", key("bronze", table))
    for layer, table in (("silver", "exams"), ("silver", "patient_master"), ("bronze", "ris__exam_orders")):
        assert not allowed(receiver, "s3:GetObject", key(layer, table)), (layer, table)
        assert not allowed(receiver, "s3:PutObject", key(layer, table)), (layer, table)
    assert allowed(compute, "s3:PutObject", key("silver", "exams"))
    assert not allowed(compute, "s3:PutObject", key("bronze", "dicom_files"))
    assert not allowed(compute, "s3:DeleteObject", key("silver", "exams"))
    assert allowed(pipeline, "s3:DeleteObject", key("silver", "exams"))  # upkeep's vacuum
    assert not allowed(pipeline, "s3:PutObject", "elsewhere/x")


def test_the_production_receiver_refuses_an_empty_allow_list(objects: list[dict], tmp_path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    shipped = _by_kind(objects, "ConfigMap")["radlake-config"]["data"]["radlake.yaml"]
    config = tmp_path / "radlake.yaml"
    storage = ["--storage", str(tmp_path / "received")]
    config.write_text(shipped)
    result = CliRunner().invoke(app, ["dicom", "listen", "--config", str(config), "--port", "0", *storage])
    assert result.exit_code != 0
    assert "allowed_calling_aets is empty" in str(result.exception)
    assert not (tmp_path / "received").exists(), "it stopped before receiving anything"
    # Said explicitly, the same config passes the check (the receiver is not started here).
    from radlake.config import load_settings

    config.write_text(shipped.replace("require_allow_list: true", "require_allow_list: false"))
    assert load_settings(config).dicom.receiver.require_allow_list is False
