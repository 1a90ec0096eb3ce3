"""Named network namespaces, as `ip netns` makes them, without running `ip` for each one; and
entering a namespace for the length of a block.

A namespace is created by a thread that unshares its network namespace and bind-mounts
`/proc/thread-self/ns/net` on `/run/netns/<name>`, then returns to where it was: the same result
as `ip netns add` (which other tools, and `ip netns exec`, then see), about a hundred times
faster. `/run/netns` is prepared once by `ip netns add` itself, so that its mount propagation is
exactly what iproute2 expects.

Standard library only, and nothing imported before it is needed: the CNI plugin enters the
container's namespace on every ADD. It never decides which namespaces exist; callers do.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2


def _libc():  # type: ignore[no-untyped-def]
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace of descriptor `fd`."""
    native = getattr(os, "setns", None)  # Python >= 3.12
    if native is not None:
        native(fd, CLONE_NEWNET)
        return
    _check(_libc().setns(fd, CLONE_NEWNET), "setns")


class entered:  # noqa: N801 - used like a function: `with entered(fd): ...`
    """Run the block with this thread in the namespace of `netns_fd`, then come back."""

    def __init__(self, netns_fd: int):
        self.netns_fd = netns_fd
        self.home = -1

    def __enter__(self) -> None:
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            setns(self.netns_fd)
        except BaseException:
            os.close(self.home)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            setns(self.home)
        finally:
            os.close(self.home)


def path(name: str) -> str:
    return f"{NETNS_DIR}/{name}"


def open_fd(name: str) -> int:
    """A descriptor of namespace `name` (close it; the namespace outlives it)."""
    return os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def inside(name: str) -> Iterator[None]:
    """Run the block with the calling thread in namespace `name` (sockets made in the block stay
    there; children spawned from this thread start there)."""
    fd = open_fd(name)
    try:
        with entered(fd):
            yield
    finally:
        os.close(fd)


def run(
    name: str, argv: list[str], stdin: bytes | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a program in namespace `name` (the child starts in the calling thread's namespace)."""
    import subprocess

    with inside(name):
        return subprocess.run(argv, input=stdin, env=env, capture_output=True, check=False)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def listed() -> list[str]:
    """Every named namespace (`ip netns list`)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def prepare(probe_name: str) -> None:
    """Make sure /run/netns is the shared mount point iproute2 sets up (once per boot)."""
    if os.path.ismount(NETNS_DIR):
        return
    import subprocess

    subprocess.run(["ip", "netns", "add", probe_name], check=True, capture_output=True)
    subprocess.run(["ip", "netns", "del", probe_name], check=False, capture_output=True)


def create(name: str, sysctls: tuple[tuple[str, str], ...] = ()) -> None:
    """A new, empty network namespace named `name` (an error if it exists), with `lo` up and
    its `sysctls` (("net/ipv4/ip_forward", "1"), ...) set."""
    from podnet.kernel import sysctl

    libc = _libc()
    target = path(name)
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(libc.unshare(CLONE_NEWNET), "unshare")
        try:
            _check(
                libc.mount(b"/proc/thread-self/ns/net", target.encode(), None, MS_BIND, None),
                f"mount {target}",
            )
            _loopback_up()
            for key, value in sysctls:
                sysctl.write(key, value)
        finally:
            _check(libc.setns(home, CLONE_NEWNET), "setns")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise
    finally:
        os.close(home)


def _loopback_up() -> None:
    from podnet.kernel import netlink

    with netlink.Rtnl() as rtnl:
        lo = rtnl.link_get("lo")
        if lo is not None:
            rtnl.link_set(lo.index, up=True)


def delete(name: str) -> bool:
    """Unmount and remove `/run/netns/<name>`; the kernel frees the namespace once no process
    and no open descriptor holds it. False when there was nothing to delete."""
    target = path(name)
    if not os.path.lexists(target):
        return False
    _libc().umount2(target.encode(), MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    return True


def inode(name: str) -> int | None:
    """The namespace's inode number (what /proc/<pid>/ns/net links to), or None."""
    try:
        return os.stat(path(name)).st_ino
    except OSError:
        return None


def pids_in(inodes: set[int]) -> list[int]:
    """Processes whose network namespace is one of `inodes` (by /proc/<pid>/ns/net)."""
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            target = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        # "net:[4026532XXX]"
        if target.startswith("net:[") and int(target[5:-1]) in inodes:
            out.append(int(entry))
    return out
