"""Lint for the admin tiers (ClusterNetworkPolicy; AdminNetworkPolicy and
BaselineAdminNetworkPolicy), judged on the cluster's actual pods. Pure.

- `baseline-deny-escaped` (warning): a Baseline-tier Deny rule whose every subject a
  NetworkPolicy selects for the rule's direction: NetworkPolicy then decides that direction for
  those pods, and the Baseline tier is never consulted, so the Deny never applies.

- `pass-to-nothing` (info): a Pass rule that nothing decides after: in the Baseline tier always
  (only the default follows, which allows); in the Admin tier when no NetworkPolicy selects any
  of its subjects for the rule's direction and no Baseline-tier policy selecting one of them has
  a Deny rule for it (a conservative test: any such Deny keeps the finding away). Its connections
  are allowed, as with Accept. `info`, since delegating to policies not yet written is legitimate.

A finding that holds only because some pods are pending says so and is `info`, as
`policy.lint`'s findings do.
"""

from __future__ import annotations

from podnet.model.cluster import Cluster
from podnet.model.cluster_policy import Action, ClusterPolicy, ClusterPolicyRule, Tier
from podnet.model.objects import Pod
from podnet.policy import semantics
from podnet.policy.lint import Finding, at_field

SHOWN = 3  # pods named in one finding's message


def lint_tiers(cluster: Cluster) -> list[Finding]:
    return _baseline_deny_escaped(cluster) + _pass_to_nothing(cluster)


def _denies(rule: ClusterPolicyRule) -> bool:
    """A Deny rule, or a Pass rule that fails closed (it then denies everything)."""
    return rule.action == Action.Deny or (rule.fails_closed and rule.action != Action.Accept)


def _isolating(cluster: Cluster, direction: str, pod: Pod) -> str:
    """The first NetworkPolicy that selects `pod` for `direction`, or ""."""
    return next(
        (
            p.key
            for p in cluster.policies
            if direction in p.policy_types and semantics.selects(p, pod)
        ),
        "",
    )


def _subjects(cluster: Cluster, pol: ClusterPolicy, pods: list[Pod]) -> list[Pod]:
    return [p for p in pods if semantics.cluster_policy_selects(cluster, pol, p)]


def _baseline_deny_escaped(cluster: Cluster) -> list[Finding]:
    out = []
    running = [p for p in cluster.running_pods if not p.host_network]
    pending = [p for p in cluster.pods if p.key in cluster.pending]
    for pol in cluster.cluster_policies:
        if pol.tier != Tier.Baseline:
            continue
        subjects = _subjects(cluster, pol, running)
        if not subjects:
            continue
        for direction in semantics.DIRECTIONS:
            rules = [(i, r) for i, r in enumerate(pol.rules(direction)) if _denies(r)]
            if not rules:
                continue
            by = {p.key: _isolating(cluster, direction, p) for p in subjects}
            if not all(by.values()):
                continue
            keys = sorted(by)
            shown = ", ".join(f"{k} by {by[k]}" for k in keys[:SHOWN])
            more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
            open_pending = [
                p for p in _subjects(cluster, pol, pending) if not _isolating(cluster, direction, p)
            ]
            for i, _rule in rules:
                out.append(
                    at_field(
                        pol,
                        "warning",
                        "baseline-deny-escaped",
                        f"spec.{direction.lower()}[{i}]",
                        f"never applies: a NetworkPolicy selects every pod this policy selects"
                        f" for {direction.lower()} ({shown}{more}), and NetworkPolicy then"
                        " decides that direction instead of the Baseline tier",
                        open_pending,
                        cluster,
                    )
                )
    return out


def _pass_to_nothing(cluster: Cluster) -> list[Finding]:
    out = []
    running = [p for p in cluster.running_pods if not p.host_network]
    pending = [p for p in cluster.pods if p.key in cluster.pending]
    baselines = [p for p in cluster.cluster_policies if p.tier == Tier.Baseline]
    for pol in cluster.cluster_policies:
        subjects = _subjects(cluster, pol, running)
        if not subjects:
            continue
        for direction in semantics.DIRECTIONS:
            for i, rule in enumerate(pol.rules(direction)):
                if rule.action != Action.Pass or rule.fails_closed:
                    continue
                field = f"spec.{direction.lower()}[{i}]"
                if pol.tier == Tier.Baseline:
                    out.append(
                        at_field(
                            pol,
                            "info",
                            "pass-to-nothing",
                            field,
                            "is the same as Accept: after the Baseline tier only the default"
                            " follows, which allows the connections it matches",
                        )
                    )
                    continue

                def decided(pod: Pod, direction: str = direction) -> bool:
                    return bool(_isolating(cluster, direction, pod)) or any(
                        semantics.cluster_policy_selects(cluster, b, pod)
                        and any(_denies(r) for r in b.rules(direction))
                        for b in baselines
                    )

                if any(decided(p) for p in subjects):
                    continue
                keys = sorted(p.key for p in subjects)
                shown = ", ".join(keys[:SHOWN])
                more = f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else ""
                out.append(
                    at_field(
                        pol,
                        "info",
                        "pass-to-nothing",
                        field,
                        f"passes to NetworkPolicy, but no NetworkPolicy selects the pods this"
                        f" policy selects ({shown}{more}) for {direction.lower()}, and no"
                        " Baseline-tier Deny applies to them: the connections it matches are"
                        " allowed, as with Accept",
                        [p for p in _subjects(cluster, pol, pending) if decided(p)],
                        cluster,
                    )
                )
    return out
