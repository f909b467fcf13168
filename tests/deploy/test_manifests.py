"""deploy/compose and deploy/k8s are valid before anyone runs them: compose.yaml against the
compose-spec JSON schema (vendored by check-jsonschema), every k8s manifest against the
Kubernetes schemas shipped inside kubernetes-validate (strict: unknown fields are errors) —
both offline. Plus the promises the files make to each other: every worker has its own stable
client id and waits for the migration, the load balancer knows every worker."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose"
K8S = REPO / "deploy" / "k8s"
# The oldest Kubernetes we promise (HPA autoscaling/v2 and PDB policy/v1 are GA well before it)
# and the newest the validator knows.
K8S_VERSIONS = ("1.27.0", "1.37.0")


def compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return data


def compose_workers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run `shelfsync cloud` (the migration job runs `cloud migrate`)."""
    return {
        name: s for name, s in services.items()
        if s.get("command", [None])[0] == "cloud" and "migrate" not in s["command"]
    }


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


def test_compose_file_matches_the_compose_spec_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema")
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        pytest.skip("check-jsonschema (which vendors the compose-spec schema) is not installed")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_class(schema).iter_errors(compose_file()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_compose_workers_have_stable_ids_and_wait_for_the_migration() -> None:
    services = compose_file()["services"]
    workers = compose_workers(services)
    assert len(workers) >= 3
    hostnames = [s["hostname"] for s in workers.values()]
    assert len(set(hostnames)) == len(hostnames)  # the MQTT client id of each worker
    for worker in workers.values():
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][:2] == ["cloud", "migrate"]
    assert services["migrate"]["restart"] == "no"


def test_the_load_balancer_balances_over_every_worker() -> None:
    services = compose_file()["services"]
    workers = {s["hostname"] for s in compose_workers(services).values()}
    config = (COMPOSE / "haproxy.cfg").read_text()
    backends = set(re.findall(r"^\s*server \S+ (\S+):8080", config, re.MULTILINE))
    assert backends == workers


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    ("name", "doc"), k8s_documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_k8s_manifest_matches_the_kubernetes_schema(
    name: str, doc: dict[str, Any], version: str
) -> None:
    kv = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (ships the schemas)"
    )
    try:
        kv.validate(doc, version, strict=True)
    except kv.ValidationError as e:
        pytest.fail(f"{name} against Kubernetes {version}: {e}")


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_k8s_workers_and_migration_read_the_same_secret() -> None:
    docs = dict(k8s_documents())
    workers = next(d for n, d in docs.items() if n.startswith("cloud-statefulset.yaml"))
    job = next(d for n, d in docs.items() if n.startswith("migrate-job.yaml"))

    def secret_refs(pod: dict[str, Any]) -> set[str]:
        return {
            env["valueFrom"]["secretKeyRef"]["name"]
            for c in pod["spec"]["containers"]
            for env in c.get("env", [])
            if "secretKeyRef" in env.get("valueFrom", {})
        }

    assert secret_refs(workers["spec"]["template"]) == secret_refs(job["spec"]["template"])
    assert workers["spec"]["template"]["spec"]["containers"][0]["args"][0] == "cloud"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["cloud", "migrate"]


def cloud_listener_port() -> int:
    """The port of deploy/mosquitto/mosquitto.conf's listener that authenticates from
    cloud-passwd: the only one where cloud workers keep their own client ids (issue 14)."""
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    blocks = re.split(r"^listener ", conf, flags=re.MULTILINE)[1:]
    ports = [int(b.split()[0]) for b in blocks if "/cloud-passwd\n" in b]
    assert len(ports) == 1, ports
    return ports[0]


def test_compose_workers_connect_on_the_cloud_listener_which_stores_cannot_reach() -> None:
    services = compose_file()["services"]
    port = cloud_listener_port()
    for worker in compose_workers(services).values():
        url = worker["command"][worker["command"].index("--mqtt") + 1]
        assert f"@mosquitto:{port}?" in url, url
    published = {str(p).rsplit(":", 1)[-1] for p in services["mosquitto"]["ports"]}
    assert str(port) not in published  # only the backend network, where the workers are


def test_k8s_example_secret_points_the_workers_at_the_cloud_listener() -> None:
    docs = dict(k8s_documents())
    secret = next(d for n, d in docs.items() if n.startswith("secret.example.yaml"))
    assert f":{cloud_listener_port()}?" in secret["stringData"]["SHELFSYNC_MQTT"]
