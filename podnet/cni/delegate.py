"""IPAM delegation (specification section 4): find `ipam.type` in CNI_PATH and run it.

A delegate that is podnet-cni itself (a symlink, a copy or a launcher of it) runs in this process:
the same code on the same configuration and environment, without a second interpreter start.
Any other delegate (the reference host-local, say) is executed with the configuration on stdin.
"""

from __future__ import annotations

import os

from podnet.cni import jsonc as json
from podnet.cni import spec
from podnet.cni.spec import CniError

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any

_MARKER = b"podnet.cni.main"


def find_plugin(kind: str, path: tuple[str, ...]) -> str:
    if not kind or "/" in kind:
        raise CniError(spec.INVALID_CONFIG, f"invalid plugin name {kind!r}")
    for directory in path:
        candidate = os.path.join(directory, kind)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(spec.INVALID_CONFIG, f'failed to find plugin "{kind}" in path {list(path)}')


def is_podnet(executable: str) -> bool:
    import sys

    real = os.path.realpath(executable)
    if sys.argv and sys.argv[0] and real == os.path.realpath(sys.argv[0]):
        return True
    try:
        with open(real, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and _MARKER in head


def ipam_type(conf: dict[str, Any]) -> str:
    ipam = conf.get("ipam")
    if ipam is None:
        return ""
    if not isinstance(ipam, dict):
        raise CniError(spec.INVALID_CONFIG, "ipam must be an object")
    kind = ipam.get("type")
    if not isinstance(kind, str) or not kind:
        raise CniError(spec.INVALID_CONFIG, "ipam.type missing")
    return kind


def run_ipam(command: str, conf: dict[str, Any], env: spec.Environment) -> spec.Result | None:
    """Run the IPAM delegate for `command` with the whole configuration; its result for ADD."""
    kind = ipam_type(conf)
    executable = find_plugin(kind, env.path)
    delegated = _with_command(env, command)
    if is_podnet(executable):
        from podnet.cni.main import PLUGINS, run

        if kind in PLUGINS:
            out = run(kind, delegated, json.dumps(conf).encode())
            return spec.parse_result(out) if command == "ADD" and out is not None else None
    return exec_plugin(executable, command, conf, env)


def _with_command(env: spec.Environment, command: str) -> spec.Environment:
    return spec.Environment(command, env.container_id, env.netns, env.ifname, env.args, env.path)


def exec_plugin(
    executable: str, command: str, conf: dict[str, Any], env: spec.Environment
) -> spec.Result | None:
    child_env = dict(os.environ)
    child_env.update(
        {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": env.container_id,
            "CNI_NETNS": env.netns,
            "CNI_IFNAME": env.ifname,
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in env.args),
            "CNI_PATH": ":".join(env.path),
        }
    )
    import subprocess

    proc = subprocess.run(
        [executable],
        input=json.dumps(conf).encode(),
        stdout=subprocess.PIPE,
        env=child_env,
        check=False,
    )
    if proc.returncode != 0:
        try:
            err = json.loads(proc.stdout)
            raise CniError(
                int(err.get("code", spec.INTERNAL)),
                str(err.get("msg", "")),
                str(err.get("details", "")),
            )
        except (ValueError, AttributeError, TypeError):
            raise CniError(
                spec.INTERNAL,
                f"{os.path.basename(executable)} failed with status {proc.returncode}",
                proc.stdout.decode(errors="replace"),
            ) from None
    if command != "ADD":
        return None
    try:
        return spec.parse_result(json.loads(proc.stdout))
    except ValueError as err:
        raise CniError(
            spec.DECODING_FAILURE, f"cannot decode the result of {executable}", str(err)
        ) from None
