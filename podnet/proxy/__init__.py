"""kube-proxy: which endpoints a Service port uses on a node, what happens to a packet, and the
rules kube-proxy writes (nftables, iptables, and the IPVS mode's virtual servers, ipsets and
iptables), with tracers that walk the rendered rules.

Pure: nothing here touches the kernel. `endpoints` and `serviceport` are the inputs as kube-proxy
sees them, `node` puts them together for one node and IP family; `verdict` states the semantics
directly, `nftables` and `iptables` render them, and `trace_nftables` and `trace_iptables` replay
a packet over each rendering (the walk they share is `tracer`) so that the rules can be checked
against `verdict`. `ipvs` builds the IPVS proxier's state from the same node state, renders it
and states its verdicts; `trace_ipvs` replays a packet over that rendering.
"""
