"""Write podnet-cni launchers into a CNI bin directory: `python -m podnet.cni.install /opt/cni/bin`.

Each launcher (`podnet-cni`, and one per plugin type: `bridge`, `host-local`, ...) is a small
script run with `-IS`: the plugin needs only the standard library, and skipping `site` saves
most of the interpreter's start-up, which dominates a plugin's run time.
"""

from __future__ import annotations

import argparse
import os
import sys

from podnet.cni.main import PLUGINS

LAUNCHER = """#!{python} -IS
import sys
sys.path.insert(0, {root!r})
from podnet.cni.main import main
sys.exit(main())
"""


def launcher(python: str, root: str) -> str:
    return LAUNCHER.format(python=python, root=root)


def install(
    directory: str, python: str = sys.executable, names: list[str] | None = None
) -> list[str]:
    import podnet

    root = os.path.dirname(os.path.dirname(os.path.abspath(podnet.__file__)))
    os.makedirs(directory, exist_ok=True)
    written = []
    for name in names or ["podnet-cni", *PLUGINS]:
        path = os.path.join(directory, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(launcher(python, root))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m podnet.cni.install", description=__doc__.splitlines()[0]
    )
    parser.add_argument("directory", help="the CNI bin directory, such as /opt/cni/bin")
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter the launchers run"
    )
    parser.add_argument("--only", nargs="*", help="plugin names to write (default: all)")
    args = parser.parse_args(argv)
    for path in install(args.directory, args.python, args.only):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
