"""Service and EndpointSlice documents to objects, validated as the API server validates them
(pkg/apis/core/validation ValidateService, pkg/apis/discovery/validation). Addresses and ports
that are allocated (ClusterIPs, nodePorts, load-balancer IPs) are checked where they are
allocated, in `ipam.service_allocation`.
"""

from __future__ import annotations

from podnet.family import FAMILIES as ADDRESS_FAMILIES
from podnet.family import family
from podnet.model import validation as v
from podnet.model.fields import Field
from podnet.model.objects import (
    EXTERNAL_SERVICE_TYPES,
    SERVICE_TYPES,
    TRAFFIC_POLICIES,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPAddress,
    IPNetwork,
    LoadBalancerIngress,
    Origin,
    Service,
    ServicePort,
    ServiceType,
    TrafficPolicy,
)

# Kubernetes' names of the IP families (spec.ipFamilies) and their IP versions.
FAMILIES = {f.name: f.version for f in ADDRESS_FAMILIES.values()}


def _ips(f: Field, what: str = "a valid IP address") -> list[IPAddress]:
    out = []
    for item in f.items():
        text = item.str()
        ip = v.parse_ip(text) if text else None
        if ip is None and text:
            item.error(f"Invalid value: {text!r}: must be {what}")
        elif ip is not None:
            out.append(ip)
    return out


def parse_service(
    obj: Field, name: str, namespace: str, labels: dict[str, str], origin: Origin
) -> Service:
    spec = obj["spec"]
    stype = ServiceType(spec["type"].choice(SERVICE_TYPES, ServiceType.ClusterIP))
    external = stype in EXTERNAL_SERVICE_TYPES
    headless, cluster_ips = _cluster_ips(spec, stype, external)
    if stype == ServiceType.ExternalName:
        ext = spec["externalName"].str(required=True).rstrip(".")
        if ext:
            spec["externalName"].check(ext, v.dns1123_subdomain)
        if cluster_ips:
            spec["clusterIP"].error("Forbidden: may not be set for ExternalName services")
    families, policy = _ip_families(spec, cluster_ips)
    ports = _service_ports(spec, stype, headless)
    selector = _selector(spec)
    affinity, timeout = _session_affinity(spec)
    etp, external_ips = _external_traffic_policy(spec, external)
    itp = TrafficPolicy(
        spec["internalTrafficPolicy"].choice(TRAFFIC_POLICIES, TrafficPolicy.Cluster)
    )
    hc = _health_check_node_port(spec, stype, etp)
    ranges = _source_ranges(spec, stype)
    ingress = _load_balancer_ingress(obj["status"]["loadBalancer"]["ingress"])
    distribution = spec["trafficDistribution"].str()
    return Service(
        name=name,
        namespace=namespace,
        labels=labels,
        selector=selector if stype != ServiceType.ExternalName else None,
        ports=ports,
        type=stype,
        cluster_ips=tuple(cluster_ips),
        headless=headless,
        ip_families=tuple(families),
        ip_family_policy=policy,
        external_name=spec["externalName"].str().rstrip(".")
        if stype == ServiceType.ExternalName
        else "",
        external_ips=tuple(external_ips),
        load_balancer=tuple(ingress),
        load_balancer_source_ranges=tuple(ranges),
        session_affinity=affinity,
        session_affinity_timeout=timeout if timeout is not None else 10800,
        external_traffic_policy=etp,
        internal_traffic_policy=itp,
        health_check_node_port=hc,
        allocate_load_balancer_node_ports=_allocate_node_ports(spec, stype),
        traffic_distribution=distribution,
        publish_not_ready_addresses=spec["publishNotReadyAddresses"].bool(False),
        annotations=obj["metadata"]["annotations"].string_map(),
        origin=origin,
    )


def _cluster_ips(spec: Field, stype: str, external: bool) -> tuple[bool, list[IPAddress]]:
    """spec.clusterIP and spec.clusterIPs: whether the Service is headless, and its addresses."""
    cluster_ip = spec["clusterIP"].str()
    given = (
        spec["clusterIPs"].strings()
        if spec["clusterIPs"].present
        else ([cluster_ip] if cluster_ip else [])
    )
    if cluster_ip and given and given[0] != cluster_ip:
        spec["clusterIPs"].error(
            "Invalid value: must have the same value as `clusterIP` at index 0"
        )
    headless = bool(given) and given[0] == "None"
    cluster_ips: list[IPAddress] = []
    if headless:
        if len(given) > 1:
            spec["clusterIPs"].error(
                "Invalid value: must not have more than one value when the first is 'None'"
            )
        if external:
            spec["clusterIP"].error(
                f"Invalid value: \"None\": may not be set to 'None' for {stype} services"
            )
        return headless, cluster_ips
    for i, text in enumerate(given):
        ip = v.parse_ip(text)
        field = spec["clusterIPs"] if spec["clusterIPs"].present else spec["clusterIP"]
        if ip is None:
            field.error(
                f"Invalid value: {text!r}: must be a valid IP address or 'None'"
                + (f" (index {i})" if i else "")
            )
        else:
            cluster_ips.append(ip)
    if len({ip.version for ip in cluster_ips}) < len(cluster_ips):
        spec["clusterIPs"].error(
            "Invalid value: may specify no more than one IP for each IP family"
        )
    return headless, cluster_ips


def _ip_families(spec: Field, cluster_ips: list[IPAddress]) -> tuple[list[int], str]:
    """spec.ipFamilies (as IP versions) and spec.ipFamilyPolicy."""
    families = []
    for item in spec["ipFamilies"].items():
        fam = item.str()
        if fam not in FAMILIES:
            item.error(f'Unsupported value: "{fam}": supported values: "IPv4", "IPv6"')
        elif FAMILIES[fam] in families:
            item.error(f'Duplicate value: "{fam}"')
        else:
            families.append(FAMILIES[fam])
    for i, ip in enumerate(cluster_ips):
        if i < len(families) and families[i] != ip.version:
            spec["ipFamilies"].error(
                f"Invalid value: {family(families[i]).name}: does not match the family of clusterIPs[{i}] ({ip})"
            )
    policy = spec["ipFamilyPolicy"].str()
    if policy and policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        spec["ipFamilyPolicy"].error(
            f'Unsupported value: "{policy}": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'
        )
    return families, policy


def _selector(spec: Field) -> dict[str, str] | None:
    if not spec["selector"].present:
        return None
    selector = spec["selector"].string_map()
    for k, val in selector.items():
        spec["selector"][k].check(k, v.qualified_name)
        spec["selector"][k].check(val, v.label_value)
    return selector


def _session_affinity(spec: Field) -> tuple[str, int | None]:
    """spec.sessionAffinity and its timeout."""
    affinity = spec["sessionAffinity"].choice(("None", "ClientIP"), "None")
    timeout_field = spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"]
    timeout = timeout_field.int(10800)
    if timeout_field.present and affinity != "ClientIP":
        timeout_field.error("Forbidden: must not be set when `sessionAffinity` is None")
    elif timeout is not None and not 0 < timeout <= 86400:
        timeout_field.error(f"Invalid value: {timeout}: must be greater than 0 and less than 86400")
    return affinity, timeout


def _external_traffic_policy(
    spec: Field, external: bool
) -> tuple[TrafficPolicy | str, list[IPAddress]]:
    """spec.externalTrafficPolicy (defaulted for NodePort and LoadBalancer) and spec.externalIPs,
    which make a Service externally reachable as well."""
    etp: TrafficPolicy | str = spec["externalTrafficPolicy"].str()
    if etp and etp not in TRAFFIC_POLICIES:
        spec["externalTrafficPolicy"].error(
            f'Unsupported value: "{etp}": supported values: "Cluster", "Local"'
        )
        etp = ""
    external_ips = _ips(spec["externalIPs"])
    if etp and not external and not external_ips:
        spec["externalTrafficPolicy"].error(
            "Invalid value: may only be set for externally-accessible services"
        )
    if external and not etp:
        etp = TrafficPolicy.Cluster
    return TrafficPolicy(etp) if etp else "", external_ips


def _health_check_node_port(spec: Field, stype: str, etp: str) -> int | None:
    hc = spec["healthCheckNodePort"].int()
    if hc is not None:
        if not (stype == ServiceType.LoadBalancer and etp == TrafficPolicy.Local):
            spec["healthCheckNodePort"].error(
                "Invalid value: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
            )
        else:
            spec["healthCheckNodePort"].check(hc, v.port_number)
    return hc


def _source_ranges(spec: Field, stype: str) -> list[IPNetwork]:
    """spec.loadBalancerSourceRanges."""
    ranges: list[IPNetwork] = []
    for item in spec["loadBalancerSourceRanges"].items():
        text = item.str().strip()  # kube-proxy trims white space; so does the API server
        net = v.parse_cidr(text) if text else None
        if net is None:
            item.error(f"Invalid value: {item.value!r}: must be a valid CIDR")
        else:
            ranges.append(net)
    if ranges and stype != ServiceType.LoadBalancer:
        spec["loadBalancerSourceRanges"].error(
            "Forbidden: may only be used when `type` is 'LoadBalancer'"
        )
    return ranges


def _load_balancer_ingress(items: Field) -> list[LoadBalancerIngress]:
    """status.loadBalancer.ingress."""
    ingress = []
    for item in items.items():
        ip = None
        if item["ip"].present:
            ip = v.parse_ip(item["ip"].str())
            if ip is None:
                item["ip"].error(f"Invalid value: {item['ip'].value!r}: must be a valid IP address")
        mode = item["ipMode"].str()
        if mode and mode not in ("VIP", "Proxy"):
            item["ipMode"].error(f'Unsupported value: "{mode}": supported values: "Proxy", "VIP"')
        if mode and ip is None:
            item["ipMode"].error("Forbidden: may only be specified when `ip` is set")
        ingress.append(LoadBalancerIngress(ip, item["hostname"].str(), mode))
    return ingress


def _allocate_node_ports(spec: Field, stype: str) -> bool:
    f = spec["allocateLoadBalancerNodePorts"]
    if f.present and stype != ServiceType.LoadBalancer:
        f.error("Forbidden: may only be used when `type` is 'LoadBalancer'")
    return f.bool(True) if f.present else True


def _service_ports(spec: Field, stype: str, headless: bool) -> tuple[ServicePort, ...]:
    ports: list[ServicePort] = []
    items = spec["ports"].items()
    if not items and stype != ServiceType.ExternalName and not headless:
        spec["ports"].error("Required value")
    names: set[str] = set()
    seen: set[tuple[int, str]] = set()
    node_ports: set[tuple[int, str]] = set()
    for p in items:
        pname = p["name"].str()
        if len(items) > 1 and not pname:
            p["name"].error("Required value")
        if pname:
            p["name"].check(pname, v.dns1123_label)
            if pname in names:
                p["name"].error(f'Duplicate value: "{pname}"')
            names.add(pname)
        number = p["port"].int(required=True)
        if number is not None:
            p["port"].check(number, v.port_number)
        proto = p["protocol"].str("TCP") if p["protocol"].present else "TCP"
        p["protocol"].check(proto, v.protocol)
        if number is not None:
            if (number, proto) in seen:
                p.error(f"Duplicate value: {{port: {number}, protocol: {proto}}}")
            seen.add((number, proto))
        target = p["targetPort"].int_or_str()
        if isinstance(target, int) and target != 0:
            p["targetPort"].check(target, v.port_number)
        elif isinstance(target, str):
            p["targetPort"].check(target, v.port_name)
        node_port = p["nodePort"].int()
        if node_port == 0:
            node_port = None
        if node_port is not None:
            if stype not in EXTERNAL_SERVICE_TYPES:
                p["nodePort"].error(f"Forbidden: may not be used when `type` is '{stype}'")
            elif p["nodePort"].check(node_port, v.port_number):
                if (node_port, proto) in node_ports:
                    p["nodePort"].error(f"Duplicate value: {node_port}")
                node_ports.add((node_port, proto))
        if number is not None:
            ports.append(
                ServicePort(number, proto, pname, target or 0, node_port, p["appProtocol"].str())
            )
    return tuple(ports)


def parse_endpoint_slice(
    obj: Field, name: str, namespace: str, labels: dict[str, str], origin: Origin
) -> EndpointSlice:
    address_type = obj["addressType"].str(required=True)
    if address_type and address_type not in ("IPv4", "IPv6", "FQDN"):
        obj["addressType"].error(
            f'Unsupported value: "{address_type}": supported values: "FQDN", "IPv4", "IPv6"'
        )
    endpoints = []
    for e in obj["endpoints"].items():
        if not e.is_map():
            continue
        addresses = e["addresses"].strings()
        if not addresses:
            e["addresses"].error("Required value: must contain at least 1 address")
        if len(addresses) > 100:
            e["addresses"].error("Too many: must have at most 100 items")
        for i, a in enumerate(addresses):
            ip = v.parse_ip(a)
            if address_type in FAMILIES and (ip is None or ip.version != FAMILIES[address_type]):
                e["addresses"].items()[i].error(
                    f"Invalid value: {a!r}: must be a valid {address_type} address"
                )
        cond = e["conditions"]
        hostname = e["hostname"].str()
        if hostname:
            e["hostname"].check(hostname, v.dns1123_label)
        target = e["targetRef"]
        endpoints.append(
            Endpoint(
                addresses=tuple(addresses),
                ready=cond["ready"].bool() if cond["ready"].present else None,
                serving=cond["serving"].bool() if cond["serving"].present else None,
                terminating=cond["terminating"].bool() if cond["terminating"].present else None,
                hostname=hostname,
                node_name=e["nodeName"].str(),
                zone=e["zone"].str(),
                target=f"{target['namespace'].str(namespace) or namespace}/{target['name'].str()}"
                if target["kind"].value == "Pod" and target["name"].present
                else "",
                hints_zones=tuple(z["name"].str() for z in e["hints"]["forZones"].items()),
                hints_nodes=tuple(n["name"].str() for n in e["hints"]["forNodes"].items()),
            )
        )
    ports = []
    for p in obj["ports"].items():
        if not p.is_map():
            continue
        number = p["port"].int()
        if number is not None:
            p["port"].check(number, v.port_number)
        proto = p["protocol"].str("TCP") if p["protocol"].present else "TCP"
        p["protocol"].check(proto, v.protocol)
        pname = p["name"].str() if p["name"].present else None
        if pname:
            p["name"].check(pname, v.dns1123_label)
        ports.append(EndpointPort(number, proto, pname))
    return EndpointSlice(
        name, namespace, labels, address_type, tuple(endpoints), tuple(ports), origin
    )
