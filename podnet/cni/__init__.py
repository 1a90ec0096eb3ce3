"""podnet's CNI plugin (specification 1.1.0): bridge, ptp, host-local IPAM, portmap, loopback."""
