"""The layers of docs/architecture.md, enforced: a module imports only from its own layer and the
layers below it, and the layers that must start fast or stay pure import no third-party code
they are not allowed."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "podnet"

# Each layer, with the podnet layers it may import (its own is always allowed).
BASE = {"errors", "family"}
MODEL = BASE | {"ipam", "model"}
ANALYSES = MODEL | {"policy", "proxy", "dns"}
REALISATION = ANALYSES | {"path", "nftables", "kernel", "cni", "linux"}
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "family": set(),
    "nftables": {"errors"},
    "kernel": BASE,
    "ipam": BASE,
    "model": MODEL,
    "policy": MODEL | {"nftables"},  # not proxy/ or dns/: the analyses stand side by side
    "proxy": MODEL | {"nftables"},
    "dns": MODEL,
    "path": ANALYSES,
    "cni": BASE | {"kernel", "nftables"},
    "linux": REALISATION,
    "report": REALISATION - {"kernel", "cni"},
    "cli": REALISATION | {"report"},
    "__main__": {"cli"},
    "__init__": set(),
}

# Third-party packages by layer: the CNI plugin and the kernel layer start fast on the standard
# library alone; only the renderers and the command line draw with rich or parse with typer.
STDLIB_ONLY = {"errors", "family", "nftables", "kernel", "cni"}
PRESENTATION = {"rich", "typer", "click"}
PRESENTATION_LAYERS = {"report", "cli"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path, text: str) -> list[tuple[int, str]]:
    """Every module the source `text` of `path` imports, at any depth (function-level imports
    count too)."""
    tree = ast.parse(text, str(path))
    package = ".".join(("podnet", *path.relative_to(PACKAGE).parent.parts))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name == "podnet":  # `from podnet import cni` names a layer
                out += [(node.lineno, f"podnet.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, name))
    return out


def violations(path: Path, text: str | None = None) -> list[str]:
    layer = layer_of(path)
    allowed = LAYERS[layer] | {layer, "__init__"}  # `import podnet` to find the package
    found = []
    for line, name in imports(path, path.read_text() if text is None else text):
        top, _, rest = name.partition(".")
        where = f"{path.relative_to(PACKAGE.parent)}:{line}: {layer} imports {name}"
        if top == "podnet":
            target = rest.split(".")[0] if rest else "__init__"
            if target not in allowed:
                found.append(where)
        elif top in sys.stdlib_module_names or top.startswith("_") or top == "__future__":
            continue
        elif layer in STDLIB_ONLY:
            found.append(where + " (standard library only)")
        elif top in PRESENTATION and layer not in PRESENTATION_LAYERS:
            found.append(where + " (rendering belongs to report/ and cli/)")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    assert MODULES
    assert sorted({layer_of(p) for p in MODULES} - LAYERS.keys()) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path: Path) -> None:
    assert violations(path) == []


def test_a_forbidden_import_is_found() -> None:
    """The check itself: a policy module importing the kernel layer, rich or the CLI."""
    text = "from podnet.kernel import netlink\nimport rich\ndef f():\n    from podnet import cli\n"
    found = violations(PACKAGE / "policy" / "probe.py", text)
    assert [f.split(": ", 1)[1] for f in found] == [
        "policy imports podnet.kernel",
        "policy imports rich (rendering belongs to report/ and cli/)",
        "policy imports podnet.cli",
    ]
