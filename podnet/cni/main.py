"""The `podnet-cni` executable."""

from __future__ import annotations


def main() -> None:  # replaced by the plugin's dispatcher
    raise SystemExit(1)
