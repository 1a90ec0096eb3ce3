"""The `podnet-cni` executable: one program for every plugin type.

The plugin is chosen by the name the program is run as (`bridge`, `host-local`, ... in a CNI_PATH
directory, symlinked or copied; a delegated IPAM plugin gets the main plugin's configuration, so
its own name is what tells it apart), else by the configuration's `type`. Every failure becomes
the specification's error JSON on stdout and exit status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys

from podnet.cni import jsonc as json
from podnet.cni import spec
from podnet.cni.spec import CniError

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any, BinaryIO

# type -> module; imported only when that plugin runs, to keep start-up short.
PLUGINS = {
    "bridge": "podnet.cni.bridge",
    "ptp": "podnet.cni.ptp",
    "host-local": "podnet.cni.hostlocal",
    "portmap": "podnet.cni.portmap",
    "loopback": "podnet.cni.loopback",
}
EXIT_FAILURE = 1


def plugin_module(kind: str) -> Any:
    name = PLUGINS.get(kind)
    if name is None:
        raise CniError(
            spec.INVALID_CONFIG,
            f"unknown plugin type {kind!r}",
            f"podnet-cni provides {sorted(PLUGINS)}",
        )
    import importlib

    return importlib.import_module(name)


def invoked_as(argv0: str) -> str | None:
    base = os.path.basename(argv0)
    return base if base in PLUGINS else None


def run(kind: str | None, env: spec.Environment, stdin: bytes) -> dict[str, Any] | None:
    """One invocation: the JSON to print (None for no output). Raises CniError."""
    if env.command == "VERSION":
        version = spec.LATEST
        if stdin.strip():
            with contextlib.suppress(CniError):
                version = spec.choose_version(spec.decode_config(stdin))
        return spec.version_output(version)
    conf = spec.decode_config(stdin)
    version = spec.choose_version(conf)
    kind = kind or spec.plugin_type(conf)
    if env.command in ("STATUS", "GC") and spec.version_key(version) < (1, 1, 0):
        raise CniError(spec.INCOMPATIBLE_VERSION, f"config version does not allow {env.command}")
    module = plugin_module(kind)
    if env.command == "ADD":
        return module.cmd_add(conf, env, version).to_json(version)
    if env.command == "DEL":
        module.cmd_del(conf, env)
    elif env.command == "CHECK":
        module.cmd_check(conf, env)
    elif env.command == "GC":
        module.cmd_gc(conf, env)
    elif env.command == "STATUS":
        module.cmd_status(conf, env)
    return None


def _error_version(stdin: bytes) -> str:
    try:
        conf = json.loads(stdin)
        version = conf.get("cniVersion") if isinstance(conf, dict) else None
        return version if version in spec.SUPPORTED_VERSIONS else spec.LATEST
    except (ValueError, UnicodeDecodeError):
        return spec.LATEST


def main(
    argv: list[str] | None = None,
    environ: dict[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    argv = sys.argv if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    out = stdout or sys.stdout.buffer
    data = b""
    try:
        source = stdin or sys.stdin.buffer
        if not source.isatty():
            data = source.read()
        env = spec.parse_environment(environ)
        result = run(invoked_as(argv[0] if argv else ""), env, data)
        status = 0
    except CniError as err:
        result, status = err.to_json(_error_version(data)), EXIT_FAILURE
    except Exception as err:  # the contract is error JSON, whatever went wrong
        result = CniError(
            spec.INTERNAL, str(err) or type(err).__name__, type(err).__name__
        ).to_json(_error_version(data))
        status = EXIT_FAILURE
    if result is not None:
        out.write(json.dumps(result, indent=4).encode() + b"\n")
        out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
