"""`model.names`: what a name typed on the command line stands for, each form kubectl users write,
ambiguity and names that are not there."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from podnet.errors import InvalidValue, NotFound
from podnet.model.cluster import Cluster, cluster_from_text
from podnet.model.names import Ambiguous, NameKind, parse_selector, resolve
from podnet.model.selectors import LabelSelector, Requirement

# Every workload kind, a bare Pod that shares its name with a Deployment, a Service, a workload
# with all its pods pending, and pods of a live cluster's dump (owned through a ReplicaSet).
CLUSTER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: x}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: debug, app.kubernetes.io/name: debug}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: x}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: x}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cache, namespace: x}
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: x}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: x}
spec:
  template:
    metadata: {labels: {app: migrate}}
    spec: {restartPolicy: Never, containers: [{name: c, image: i}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: x}
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: backup}}
        spec: {restartPolicy: Never, containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu, namespace: x}
spec:
  replicas: 1
  selector: {matchLabels: {app: gpu}}
  template:
    metadata: {labels: {app: gpu}}
    spec:
      nodeSelector: {accelerator: a100}
      containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  selector: {app: nothing}
  ports: [{port: 53, protocol: UDP}]
---
# A dump of a live cluster: the Deployment, its ReplicaSet and its pod.
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: live}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-6d4cf56db6
  namespace: live
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, controller: true}]
spec:
  replicas: 1
  selector: {matchLabels: {app: api, pod-template-hash: 6d4cf56db6}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 6d4cf56db6}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-6d4cf56db6-x7k2p
  namespace: live
  labels: {app: api, pod-template-hash: 6d4cf56db6}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-6d4cf56db6, controller: true}]
spec: {containers: [{name: c, image: i}]}
"""


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return cluster_from_text(CLUSTER, "names.yaml")


def _pods(cluster: Cluster, text: str, namespace: str = "default") -> list[str]:
    return [p.key for p in resolve(cluster, text, namespace).pods]


def _of(cluster: Cluster, owner_prefix: str) -> list[str]:
    return [p.key for p in cluster.pods if p.owner.startswith(owner_prefix) and p.ips]


@pytest.mark.parametrize(
    ("text", "kind", "name", "owner"),
    [
        # kubectl's kind words: short, singular and plural, any case.
        ("x/deploy/web", NameKind.workload, "x/deploy/web", "ReplicaSet/web-"),
        ("x/deployment/web", NameKind.workload, "x/deploy/web", "ReplicaSet/web-"),
        ("x/Deployments/web", NameKind.workload, "x/deploy/web", "ReplicaSet/web-"),
        ("x/sts/db", NameKind.workload, "x/sts/db", "StatefulSet/db"),
        ("x/statefulset/db", NameKind.workload, "x/sts/db", "StatefulSet/db"),
        ("x/ds/agent", NameKind.workload, "x/ds/agent", "DaemonSet/agent"),
        ("x/rs/cache", NameKind.workload, "x/rs/cache", "ReplicaSet/cache"),
        ("x/rc/legacy", NameKind.workload, "x/rc/legacy", "ReplicationController/legacy"),
        ("x/job/migrate", NameKind.workload, "x/job/migrate", "Job/migrate"),
        ("x/cronjob/backup", NameKind.workload, "x/cronjob/backup", "Job/backup-"),
        ("x/cj/backup", NameKind.workload, "x/cronjob/backup", "Job/backup-"),
        ("x/db", NameKind.workload, "x/sts/db", "StatefulSet/db"),  # the one workload so named
        ("live/api", NameKind.workload, "live/deploy/api", "ReplicaSet/api-"),  # a live dump
        ("x/svc/web", NameKind.service, "x/svc/web", "ReplicaSet/web-"),  # its selected pods
        ("x/service/web", NameKind.service, "x/svc/web", "ReplicaSet/web-"),
    ],
)
def test_workloads_and_services(cluster, text, kind, name, owner) -> None:
    named = resolve(cluster, text)
    assert (named.kind, named.name) == (kind, name)
    assert [p.key for p in named.pods] == _of(cluster, owner) != []


def test_a_deployment_of_a_live_dump_owns_the_pods_of_its_replicaset(cluster) -> None:
    """The pod names the ReplicaSet, and its pod-template-hash ties that to the Deployment."""
    assert _pods(cluster, "live/deploy/api") == ["live/api-6d4cf56db6-x7k2p"]
    assert _pods(cluster, "live/rs/api-6d4cf56db6") == ["live/api-6d4cf56db6-x7k2p"]


@pytest.mark.parametrize(
    ("text", "namespace", "kind", "name", "pods"),
    [
        ("x/pod/web", "default", NameKind.pod, "x/web", ["x/web"]),
        ("pod/web", "x", NameKind.pod, "x/web", ["x/web"]),  # the default namespace
        ("x/db-0", "default", NameKind.pod, "x/db-0", ["x/db-0"]),
        ("x/db-0:5432", "default", NameKind.pod, "x/db-0", ["x/db-0"]),
        ("svc/dns", "default", NameKind.service, "default/svc/dns", []),  # no endpoints
        ("svc/web", "x", NameKind.service, "x/svc/web", None),
        ("db", "x", NameKind.workload, "x/sts/db", ["x/db-0", "x/db-1"]),  # a bare word
        ("node-1", "default", NameKind.node, "node-1", []),
        ("node/node-2", "default", NameKind.node, "node-2", []),
        ("external", "default", NameKind.external, "external", []),
        ("x/app=db", "default", NameKind.selector, "x/app=db", ["x/db-0", "x/db-1"]),
        ("app=db", "x", NameKind.selector, "x/app=db", ["x/db-0", "x/db-1"]),
        ("x/app in (db,cache)", "default", NameKind.selector, "x/app in (cache,db)", None),
        ("x/app notin (web,db)", "default", NameKind.selector, "x/app notin (db,web)", None),
        ("x/app!=web,app!=db,!pod-template-hash,app", "default", NameKind.selector, None, None),
    ],
)  # fmt: skip
def test_other_forms(cluster, text, namespace, kind, name, pods) -> None:
    named = resolve(cluster, text, namespace)
    assert named.kind == kind
    if name is not None:
        assert named.name == name
    if pods is not None:
        assert [p.key for p in named.pods] == pods


def test_selectors_select_as_kubectl_does(cluster) -> None:
    assert _pods(cluster, "x/app in (db,cache)") == _of(cluster, "ReplicaSet/cache") + [
        "x/db-0",
        "x/db-1",
    ]
    # != matches pods without the label too, as kubectl's selector does; web's pods have tier.
    assert _pods(cluster, "x/tier!=front") == sorted(
        p.key for p in cluster.running_pods if p.namespace == "x" and "tier" not in p.labels
    )
    assert _pods(cluster, "x/tier,app") == _of(cluster, "ReplicaSet/web-")
    assert _pods(cluster, "x/!tier,app=debug") == ["x/web"]


def test_the_port_and_the_address_forms(cluster) -> None:
    named = resolve(cluster, "x/svc/web:80")
    assert (named.port, named.host) == (80, "x/svc/web")
    pod = cluster.pod("x/db-0")
    named = resolve(cluster, f"{pod.ips[0]}:5432")
    assert named.kind == NameKind.address and [p.key for p in named.pods] == ["x/db-0"]
    node = cluster.node("node-2")
    named = resolve(cluster, str(node.ips[0]))
    assert named.node is not None and named.node.name == "node-2" and named.pods == ()
    outside = resolve(cluster, "[2001:db8::1]:443")
    assert outside.address == ip_address("2001:db8::1") and outside.port == 443
    assert outside.node is None and outside.pods == ()


def test_dns_names_where_the_caller_takes_them(cluster) -> None:
    assert resolve(cluster, "web.x", dns=True).kind == NameKind.dns
    assert resolve(cluster, "web", dns=True).kind == NameKind.dns
    assert resolve(cluster, "node-1", dns=True).kind == NameKind.node  # a node stays a node
    assert resolve(cluster, "x/deploy/web", dns=True).kind == NameKind.workload


def test_a_short_name_of_several_objects_is_ambiguous(cluster) -> None:
    with pytest.raises(Ambiguous) as err:
        resolve(cluster, "x/web")
    assert err.value.candidates == ("x/web", "x/deploy/web")
    assert str(err.value) == (
        "'x/web' is ambiguous: it names x/web, x/deploy/web; give one of those"
    )


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "x/nope",
            NotFound,
            "no pod or workload 'nope' in namespace x (pods: agent-",
        ),
        (
            "nope",
            NotFound,
            "no node 'nope', nor a pod or workload of that name in namespace default (pods: none;"
            " workloads: none; nodes: node-1, node-2)",
        ),
        ("x/deploy/nope", NotFound, "no Deployment 'nope' in namespace x (Deployments: gpu, web)"),
        ("x/sts/web", NotFound, "no StatefulSet 'web' in namespace x (StatefulSets: db)"),
        ("svc/nope", NotFound, "no Service 'nope' in namespace default (Services: dns, kubernetes)"),
        ("x/pod/nope", NotFound, "no pod 'nope' in namespace x (pods: agent-"),
        ("node/nope", NotFound, "no node 'nope' in the cluster (nodes: node-1, node-2)"),
        ("x/app=nothing", InvalidValue, "x/app=nothing selects no pod with an address in namespace x"),
        (
            "x/deploy/gpu",
            InvalidValue,
            "x/deploy/gpu has no pod with an address (1 pending: x/gpu-",
        ),
        ("x/a/b/c", InvalidValue, "'x/a/b/c' is not a name podnet reads: give ns/pod"),
        ("x/app in (a", InvalidValue, "'x/app in (a' is not a label selector kubectl reads"),
        ("x/=web", InvalidValue, "'x/=web' is not a label selector kubectl reads ('': the key is"),
        ("x/db-0:http", InvalidValue, "'x/db-0:http': the port must be a number from 1 to 65535"),
    ],
)  # fmt: skip
def test_names_that_are_not_there(cluster, text, error, message) -> None:
    with pytest.raises(error) as err:
        resolve(cluster, text)
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("app=web", LabelSelector.of({"app": "web"})),
        ("app==web, tier = front", LabelSelector.of({"app": "web", "tier": "front"})),
        ("app!=web", LabelSelector.of(None, Requirement("app", "NotIn", ("web",)))),
        ("env in (a, b)", LabelSelector.of(None, Requirement("env", "In", ("a", "b")))),
        ("env notin (a),x", LabelSelector.of(
            None, Requirement("env", "NotIn", ("a",)), Requirement("x", "Exists"))),
        ("!canary", LabelSelector.of(None, Requirement("canary", "DoesNotExist"))),
        ("app.kubernetes.io/name=web", LabelSelector.of({"app.kubernetes.io/name": "web"})),
    ],
)  # fmt: skip
def test_parse_selector(text, selector) -> None:
    assert parse_selector(text) == selector


def test_a_key_prefix_is_not_a_namespace(cluster) -> None:
    """A namespace is a DNS label: the part before a slash with a dot in it is a key's prefix."""
    named = resolve(cluster, "app.kubernetes.io/name=debug", "x")
    assert (named.name, [p.key for p in named.pods]) == (
        "x/app.kubernetes.io/name=debug",
        ["x/web"],
    )
    assert _pods(cluster, "x/app.kubernetes.io/name=debug") == ["x/web"]
