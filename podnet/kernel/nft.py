"""Running nftables: `nft -f -` with a ruleset text, `nft list ...`, optionally inside a named
network namespace.

Standard library only (the CNI plugin's portmap and ipMasq run it). It never builds rule text:
callers hand it a complete script, and one script is one transaction (all or nothing). Failures
are `NftError`; callers say them in their own words (a CNI error, a realisation error).
"""

from __future__ import annotations

NFT = "nft"


class NftError(OSError):
    """`nft` is missing (`missing`), or it refused a script: `stderr` is what it said."""

    def __init__(self, message: str, stderr: str = "", missing: bool = False) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.missing = missing


def _nft(args: list[str], stdin: bytes | None, netns: str | None) -> bytes:
    import subprocess

    argv = [NFT, *args]
    try:
        if netns is None:
            proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
        else:
            from podnet.kernel import netns as namespaces

            with namespaces.inside(netns):
                proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise NftError("nft not found", missing=True) from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise NftError(f"nft {' '.join(args)} failed: {stderr}", stderr)
    return proc.stdout


def apply(script: str, netns: str | None = None) -> None:
    """`nft -f -` with `script` on stdin, in the calling thread's namespace or in `netns`."""
    _nft(["-f", "-"], script.encode(), netns)


def list_ruleset(netns: str | None = None) -> str:
    """`nft list ruleset`, as text."""
    return _nft(["list", "ruleset"], None, netns).decode()


def has_table(family: str, name: str, netns: str | None = None) -> bool:
    """Whether `nft list table FAMILY NAME` finds the table."""
    try:
        _nft(["list", "table", family, name], None, netns)
    except NftError as err:
        if err.missing:
            raise
        return False
    return True
