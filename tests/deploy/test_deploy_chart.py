"""The Helm chart, rendered offline with Helm's own Go SDK (helm-python-sdk: no helm binary,
no cluster, no network), linted, validated against the Kubernetes API schemas
(kubernetes-validate, strict) and checked for the properties the chart promises:
hardened pods, probes, resources, hook Jobs, secrets only by reference, deny-all network
policy, split roles, and a values schema that rejects bad input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

# Skipped on a machine without them; in CI (CI set) the plugin turns the skip into a failure.
helm = pytest.importorskip("helm_python", reason="helm-python-sdk is missing: make dev")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is missing: make dev"
)
from kubernetes_validate.utils import latest_version  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "zhanli"
PRODUCTION_VALUES = CHART / "examples" / "values-production.yaml"
SERVICES = ["gateway", "talent", "learning", "kpi", "commission", "retention", "people", "audit"]
BACKENDS = SERVICES[1:]
PORTS = {
    "gateway": 8000,
    "talent": 8001,
    "learning": 8002,
    "kpi": 8003,
    "commission": 8004,
    "retention": 8005,
    "people": 8006,
    "audit": 8007,
}
RELEASE, NAMESPACE = "zhanli", "hr"
HOOK_ANNOTATION = "helm.sh/hook"
# Kubernetes versions the rendered objects must be valid for: the oldest the chart
# declares in Chart.yaml (kubeVersion) and the newest kubernetes-validate knows.
KUBE_VERSIONS = ["1.27.0", latest_version()]
SECRET_ENV = re.compile(r"(DATABASE_URL|PASSWORD|DATA_KEYS|PRIVATE_KEY|SECRET|TOKEN)$")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION_VALUES.read_text())


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders (hooks included), parsed."""
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith(".yaml"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def production_objects() -> list[dict[str, Any]]:
    return render(production_values())


@pytest.fixture(params=["default", "production"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return request.getfixturevalue(f"{request.param}_objects")


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")
    ]


def hook_jobs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return by_name(objects, "Job")


# --- Helm itself -------------------------------------------------------------------------


def test_chart_is_an_apiversion_v2_application_chart() -> None:
    with helm.Chart.load(CHART) as chart:
        meta = chart.metadata
        assert meta["apiVersion"] == "v2"
        assert meta["name"] == "zhanli"
        assert chart.schema is not None, "values.schema.json must ship with the chart"


@pytest.mark.parametrize("values_name", ["default", "production"])
def test_chart_lints_clean_in_strict_mode(values_name: str) -> None:
    values = production_values() if values_name == "production" else None
    report = helm.lint(
        CHART, values, strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSIONS[-1]}"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


def test_default_and_production_values_pass_the_schema() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema({})
        chart.validate_schema(production_values())


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"gateway": {"replicas": "two"}}, "/gateway/replicas"),
        ({"kafka": {"topicPartitions": "6"}}, "/kafka/topicPartitions"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"commission": {"roles": {"relay": {"replicas": 2}}}}, "/commission/roles/relay/replicas"),
        ({"database": {"url": "postgresql://u:p@db/zhanli"}}, "/database"),
        ({"talent": {"splitroles": True}}, "/talent"),
        (
            {"securityContext": {"readOnlyRootFilesystem": False}},
            "/securityContext/readOnlyRootFilesystem",
        ),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
        (
            {"kpi": {"env": {"ZHANLI_KPI_DATABASE_URL": "postgresql://u:p@db/x"}}},
            "ZHANLI_KPI_DATABASE_URL",
        ),
        ({"kafka": {"sasl": {"mechanism": "PLAIN"}}}, "/kafka"),
    ],
)
def test_schema_rejects_bad_values(bad: dict[str, Any], where: str) -> None:
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError) as caught:
            chart.validate_schema(bad)
        with pytest.raises(helm.HelmValuesError):
            chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"commission": {"splitRoles": True}}, "commission.splitRoles needs a database"),
        ({"kpi": {"replicas": 2}}, "more than one replica needs a database"),
    ],
)
def test_demo_mode_refuses_what_sqlite_in_a_pod_cannot_do(values: dict, message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(values)


# --- Kubernetes API validity ---------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_object_is_valid_kubernetes(objects: list[dict[str, Any]], kube_version: str) -> None:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert errors == []


def test_names_are_unique_per_kind(objects: list[dict[str, Any]]) -> None:
    seen = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(seen) == len(set(seen))


# --- Pods: hardening, probes, resources ----------------------------------------------------


def test_every_pod_is_hardened(objects: list[dict[str, Any]]) -> None:
    specs = pod_specs(objects)
    assert specs
    for where, spec in specs:
        assert spec["automountServiceAccountToken"] is False, where
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["runAsUser"] == 10001, where
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], where
        assert not any("hostPath" in v for v in spec["volumes"]), where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
        for container in spec.get("initContainers", []) + spec["containers"]:
            sc = container["securityContext"]
            cwhere = f"{where}/{container['name']}"
            assert sc["allowPrivilegeEscalation"] is False, cwhere
            assert sc["readOnlyRootFilesystem"] is True, cwhere
            assert sc["runAsNonRoot"] is True, cwhere
            assert sc.get("privileged", False) is False, cwhere
            assert sc["capabilities"]["drop"] == ["ALL"], cwhere
            assert not sc["capabilities"].get("add"), cwhere
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], cwhere
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), cwhere


def test_long_running_containers_have_health_probes(objects: list[dict[str, Any]]) -> None:
    for deployment in of_kind(objects, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            port = container["ports"][0]
            assert port["containerPort"] == PORTS[component]
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["port"] == port["name"]


def test_service_accounts_never_mount_tokens(objects: list[dict[str, Any]]) -> None:
    accounts = of_kind(objects, "ServiceAccount")
    assert accounts
    assert all(sa["automountServiceAccountToken"] is False for sa in accounts)
    names = {sa["metadata"]["name"] for sa in accounts}
    for where, spec in pod_specs(objects):
        assert spec["serviceAccountName"] in names, where


def test_images_and_commands(production_objects: list[dict[str, Any]]) -> None:
    for deployment in of_kind(production_objects, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["image"] == f"registry.corp.local:5000/zhanli/{component}:0.1.0"
        assert spec["imagePullSecrets"] == [{"name": "corp-registry"}]
        assert container["args"] == [deployment["metadata"]["labels"]["zhanli.io/role"]]


# --- Roles: serve by default, api/relay/consume when split ---------------------------------


def test_default_runs_one_serve_deployment_per_service(default_objects) -> None:
    deployments = by_name(default_objects, "Deployment")
    assert set(deployments) == {f"{RELEASE}-{s}" for s in SERVICES}
    for d in deployments.values():
        assert d["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve"]
        assert d["spec"]["replicas"] == 1


def test_split_roles_run_api_relay_consume(production_objects) -> None:
    deployments = by_name(production_objects, "Deployment")
    split = [s for s in BACKENDS if s != "people"]  # people consumes nothing: one role, 2 pods
    expected = {f"{RELEASE}-gateway", f"{RELEASE}-people"} | {
        f"{RELEASE}-{s}-{role}" for s in split for role in ("api", "relay", "consume")
    }
    assert set(deployments) == expected
    assert deployments[f"{RELEASE}-people"]["spec"]["replicas"] == 2
    assert deployments[f"{RELEASE}-commission-relay"]["spec"]["replicas"] == 1
    consume = deployments[f"{RELEASE}-commission-consume"]["spec"]["template"]["spec"]
    assert consume["containers"][0]["resources"]["limits"]["memory"] == "768Mi"
    services = by_name(production_objects, "Service")
    for s in split:
        assert services[f"{RELEASE}-{s}"]["spec"]["selector"]["zhanli.io/role"] == "api"
        assert services[f"{RELEASE}-{s}"]["spec"]["ports"][0]["port"] == PORTS[s]


def test_hpa_and_pdb_target_scalable_deployments(production_objects) -> None:
    deployments = by_name(production_objects, "Deployment")
    hpas = by_name(production_objects, "HorizontalPodAutoscaler")
    assert f"{RELEASE}-commission-api" in hpas and f"{RELEASE}-commission-consume" in hpas
    assert f"{RELEASE}-commission-relay" not in hpas, "one relay only: never autoscaled"
    assert f"{RELEASE}-learning-api" not in hpas
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert "replicas" not in deployments[name]["spec"], "HPA owns the replica count"
    for name, pdb in by_name(production_objects, "PodDisruptionBudget").items():
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert deployments[name]["spec"]["selector"]["matchLabels"] == selector


# --- Migrations and topics: hook Jobs -------------------------------------------------------


def test_production_has_a_migrate_hook_job_per_service_and_a_topics_job(production_objects):
    jobs = hook_jobs(production_objects)
    assert set(jobs) == {f"{RELEASE}-{s}-migrate" for s in SERVICES} | {
        f"{RELEASE}-topics",
        f"{RELEASE}-people-carry",
    }
    for name, job in jobs.items():
        annotations = job["metadata"]["annotations"]
        assert annotations[HOOK_ANNOTATION] == "pre-install,pre-upgrade", name
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"], name
        spec = job["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Never"
        # hooks run before the release's ConfigMaps exist: no envFrom
        assert all("envFrom" not in c for c in spec["containers"]), name
    topics = jobs[f"{RELEASE}-topics"]
    migrate = jobs[f"{RELEASE}-commission-migrate"]
    assert int(topics["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        migrate["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert topics["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python",
        "-m",
        "zhanli_shared.topics",
    ]
    assert migrate["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    hook_accounts = [
        sa
        for sa in of_kind(production_objects, "ServiceAccount")
        if HOOK_ANNOTATION in sa["metadata"].get("annotations", {})
    ]
    assert [sa["metadata"]["name"] for sa in hook_accounts] == [f"{RELEASE}-hooks"]
    assert all(
        j["spec"]["template"]["spec"]["serviceAccountName"] == f"{RELEASE}-hooks"
        for j in jobs.values()
    )


def test_an_upgrade_carries_the_gateways_people_data_between_the_migrations(
    production_objects,
) -> None:
    """people migrate, then import-from-gateway (reading both databases), then the gateway's
    migrate (which refuses to drop the directory's tables while they hold rows)."""
    jobs = hook_jobs(production_objects)

    def weight(name: str) -> int:
        return int(jobs[f"{RELEASE}-{name}"]["metadata"]["annotations"]["helm.sh/hook-weight"])

    assert weight("people-migrate") < weight("people-carry") < weight("gateway-migrate")
    assert all(weight(f"{s}-migrate") < weight("gateway-migrate") for s in BACKENDS)
    (container,) = jobs[f"{RELEASE}-people-carry"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["import-from-gateway"]
    assert container["image"].endswith("zhanli/people:0.1.0")
    env = {e["name"]: e for e in container["env"]}
    for name in ("PEOPLE", "GATEWAY"):
        assert env[f"ZHANLI_{name}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == (
            f"{name.lower()}-database-url"
        )
    # demo mode (SQLite in each pod) has no hooks, and no gateway database to carry from
    assert f"{RELEASE}-people-carry" not in hook_jobs(render({}))


def test_topics_job_is_off_when_topics_are_managed_elsewhere() -> None:
    values = production_values()
    values["kafka"]["createTopics"] = False
    jobs = hook_jobs(render(values))
    assert f"{RELEASE}-topics" not in jobs
    assert f"{RELEASE}-kpi-migrate" in jobs


def test_demo_mode_migrates_in_an_init_container_not_a_hook(default_objects) -> None:
    assert set(hook_jobs(default_objects)) == {f"{RELEASE}-topics"}
    for deployment in of_kind(default_objects, "Deployment"):
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init["args"] == ["migrate"]


# --- Configuration and secrets -------------------------------------------------------------


def test_no_secret_in_any_configmap(objects: list[dict[str, Any]]) -> None:
    configmaps = of_kind(objects, "ConfigMap")
    assert len(configmaps) == len(SERVICES)
    assert not of_kind(objects, "Secret"), "the chart references Secrets, never creates them"
    for cm in configmaps:
        for key, value in cm["data"].items():
            assert not SECRET_ENV.search(key), (cm["metadata"]["name"], key)
            assert not URL_WITH_PASSWORD.search(value), (cm["metadata"]["name"], key)


def test_secret_env_comes_from_secret_refs(production_objects) -> None:
    for where, spec in pod_specs(production_objects):
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            for name, entry in env.items():
                if SECRET_ENV.search(name):
                    assert "value" not in entry, (where, name)
                    assert "secretKeyRef" in entry["valueFrom"], (where, name)
            if container["name"] != "topics":
                assert any(n.endswith("_DATABASE_URL") for n in env), where
            assert env["ZHANLI_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": "zhanli-kafka",
                "key": "password",
            }
    retention = by_name(production_objects, "Deployment")[f"{RELEASE}-retention-api"]
    (container,) = retention["spec"]["template"]["spec"]["containers"]
    ref = {e["name"]: e for e in container["env"]}["ZHANLI_RETENTION_DATABASE_URL"]
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "zhanli-retention-database", "key": "url"}


def test_the_people_service_signs_in_with_the_gateways_issuer_key() -> None:
    objects = render({"gateway": {"privateKey": {"existingSecret": "zhanli-issuer"}}})
    cms = by_name(objects, "ConfigMap")
    for name in ("gateway", "people"):
        path = cms[f"{RELEASE}-{name}"]["data"][f"ZHANLI_{name.upper()}_AUTH_PRIVATE_KEY_FILE"]
        assert path == "/var/run/secrets/zhanli/issuer/private.pem"
        pod = by_name(objects, "Deployment")[f"{RELEASE}-{name}"]["spec"]["template"]["spec"]
        assert {
            "name": "issuer-private-key",
            "secret": {"secretName": "zhanli-issuer", "defaultMode": 0o440},
        } in pod["volumes"]
    assert "ZHANLI_COMMISSION_AUTH_PRIVATE_KEY_FILE" not in cms[f"{RELEASE}-commission"]["data"]
    assert all(
        v["name"] != "issuer-private-key"
        for v in by_name(objects, "Deployment")[f"{RELEASE}-commission"]["spec"]["template"][
            "spec"
        ]["volumes"]
    )


def test_configmaps_carry_platform_settings(production_objects) -> None:
    cms = by_name(production_objects, "ConfigMap")
    gateway = cms[f"{RELEASE}-gateway"]["data"]
    for s in BACKENDS:
        assert gateway[f"ZHANLI_GATEWAY_UPSTREAMS__{s.upper()}"] == (
            f"http://{RELEASE}-{s}:{PORTS[s]}"
        )
    commission = cms[f"{RELEASE}-commission"]["data"]
    assert commission["ZHANLI_HOST"] == "0.0.0.0"
    assert commission["ZHANLI_COMMISSION_PORT"] == "8004"
    assert commission["ZHANLI_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert commission["ZHANLI_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert commission["ZHANLI_DATA_KEYS_FILE"].startswith("/var/run/secrets/zhanli/data-keys/")
    assert "ZHANLI_VAR_DIR" not in commission, "SQLite is demo mode only"


# --- Network ---------------------------------------------------------------------------------


def test_network_policies_deny_by_default_and_allow_only_the_paths(production_objects):
    policies = by_name(production_objects, "NetworkPolicy")
    deny = policies[f"{RELEASE}-deny-all"]["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    release_pods = deny["podSelector"]["matchLabels"]
    assert release_pods == {
        "app.kubernetes.io/name": "zhanli",
        "app.kubernetes.io/instance": RELEASE,
    }
    for s in BACKENDS:
        api, scrape = policies[f"{RELEASE}-{s}"]["spec"]["ingress"]
        (peer,) = api["from"]
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
        assert api["ports"] == [{"port": "http", "protocol": "TCP"}]
        (prometheus,) = scrape["from"]
        assert "namespaceSelector" in prometheus, "Prometheus scrapes from its namespace"
        assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    egress = policies[f"{RELEASE}-egress"]["spec"]["egress"]
    ports = {p["port"] for rule in egress for p in rule["ports"]}
    assert ports == {53, 5432, 9093, 443}
    gateway = policies[f"{RELEASE}-gateway"]["spec"]
    assert {r["ports"][0]["port"] for r in gateway["egress"]} == {PORTS[s] for s in BACKENDS}
    # Only the audit service reaches out to webhook receivers.
    webhooks = policies[f"{RELEASE}-audit-webhooks"]["spec"]
    assert webhooks["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "audit"
    assert webhooks["policyTypes"] == ["Egress"]
    assert [p["port"] for p in webhooks["egress"][0]["ports"]] == [443]
    assert not [n for n in policies if n.endswith("-webhooks") and "audit" not in n]


def test_metrics_have_a_port_of_their_own_open_only_to_prometheus(objects) -> None:
    """The API ports never serve /metrics (404): every container has a "metrics" port the
    process binds on 0.0.0.0 (ZHANLI_METRICS_PORT/HOST), every Service names it, the pod
    annotations point at it, and the NetworkPolicies let only Prometheus reach it (and
    Prometheus nothing else)."""
    metrics_port = 9464
    for name, spec in pod_specs(objects):
        if not name.startswith("Deployment/"):
            continue
        (container,) = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == metrics_port and ports["http"] != metrics_port, name
    for cm in of_kind(objects, "ConfigMap"):
        data = cm.get("data") or {}
        if any(k.endswith("_PORT") and k.startswith("ZHANLI_") for k in data):
            assert data["ZHANLI_METRICS_PORT"] == str(metrics_port), cm["metadata"]["name"]
            assert data["ZHANLI_METRICS_HOST"] == "0.0.0.0"
    for svc in of_kind(objects, "Service"):
        named = {p["name"]: p for p in svc["spec"]["ports"]}
        assert named["metrics"]["port"] == metrics_port
        assert named["metrics"]["targetPort"] == "metrics"
    for d in of_kind(objects, "Deployment"):
        notes = d["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/port"] == str(metrics_port)
        assert notes["prometheus.io/path"] == "/metrics"
    policies = by_name(objects, "NetworkPolicy")
    prometheus_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    for s in SERVICES:
        rules = policies[f"{RELEASE}-{s}"]["spec"]["ingress"]
        for rule in rules:
            if prometheus_peer in rule.get("from", []):
                assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}], s
                assert rule["from"] == [prometheus_peer], s
            else:
                assert rule["ports"] == [{"port": "http", "protocol": "TCP"}], s
        assert [r for r in rules if r["ports"][0]["port"] == "metrics"], s


def test_prometheus_selector_and_service_monitors_are_settings() -> None:
    peer = {"matchLabels": {"team": "observability"}}
    objects = render(
        {
            "metrics": {
                "port": 9500,
                "podAnnotations": False,
                "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"r": "kp"}},
            },
            "networkPolicy": {
                "ingress": {"prometheus": {"namespaceSelector": peer, "podSelector": peer}}
            },
        }
    )
    monitors = by_name(objects, "ServiceMonitor")
    assert set(monitors) == {f"{RELEASE}-{s}" for s in SERVICES}
    commission = monitors[f"{RELEASE}-commission"]
    assert commission["apiVersion"] == "monitoring.coreos.com/v1"
    assert commission["metadata"]["labels"]["r"] == "kp"
    assert commission["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s"}
    ]
    selected = commission["spec"]["selector"]["matchLabels"]
    service = by_name(objects, "Service")[f"{RELEASE}-commission"]
    assert selected.items() <= service["metadata"]["labels"].items()
    for d in of_kind(objects, "Deployment"):
        assert "prometheus.io/port" not in d["spec"]["template"]["metadata"]["annotations"]
    scrape = [
        r
        for r in by_name(objects, "NetworkPolicy")[f"{RELEASE}-kpi"]["spec"]["ingress"]
        if r["ports"][0]["port"] == "metrics"
    ]
    (rule,) = scrape  # Helm merges maps: the given labels join the default selectors
    (prometheus,) = rule["from"]
    for selector in ("namespaceSelector", "podSelector"):
        assert prometheus[selector]["matchLabels"]["team"] == "observability"
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    for obj in objects:  # everything else stays valid Kubernetes
        if obj["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)


def test_ingress_routes_to_the_gateway(default_objects, production_objects) -> None:
    assert not of_kind(default_objects, "Ingress")
    (ingress,) = of_kind(production_objects, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": f"{RELEASE}-gateway", "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["secretName"] == "zhanli-tls"


def test_services_can_be_switched_off() -> None:
    objects = render({"retention": {"create": False}})
    names = {o["metadata"]["name"] for o in objects}
    assert not any("retention" in n for n in names)
    gateway_cm = by_name(objects, "ConfigMap")[f"{RELEASE}-gateway"]["data"]
    assert "ZHANLI_GATEWAY_UPSTREAMS__RETENTION" not in gateway_cm


def test_every_service_template_calls_the_one_shared_template() -> None:
    for s in SERVICES:
        text = (CHART / "templates" / f"{s}.yaml").read_text()
        assert f".Values.{s}.create" in text
        assert f'include "zhanli.service" (dict "root" . "name" "{s}")' in text
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert helpers.count('define "zhanli.service"') == 1
