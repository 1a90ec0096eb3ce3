"""podnet: Kubernetes cluster networking, modelled and realised."""

__version__ = "0.1.0"
