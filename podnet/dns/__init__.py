"""Cluster DNS: the records CoreDNS serves (`records`), each pod's stub resolver (`resolver`) and a
real DNS server answering from the model (`server`, the only module with sockets)."""
