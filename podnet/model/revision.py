"""Manifests read from a git revision, `REF:PATH` as git names a tree or blob (`origin/main:deploy`),
so that a comparison with the base branch needs no checkout of it.

git is run as a subprocess in the current directory's repository (`git ls-tree`, `git cat-file`);
nothing is written. Documents are named `REF:FILE`, so that an error in an old manifest says
which revision it comes from.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from podnet.errors import InvalidValue, ManifestError, Problem
from podnet.model.cluster import Cluster, load_cluster, resolve
from podnet.model.documents import SUFFIXES, Document, decode, parse_text
from podnet.model.parse import parse_documents


def is_revision(spec: str) -> bool:
    """Whether `spec` is `REF:PATH` rather than a file or directory: it has a colon and names no
    existing path (a file may have a colon in its name)."""
    ref, sep, _ = spec.partition(":")
    return bool(sep) and bool(ref) and spec != "-" and not Path(spec).exists()


def _git(args: list[str], spec: str, cwd: str | None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as err:
        why = f"cannot run git: {err}"
        raise InvalidValue("revision", spec, why, message=f"{spec}: {why}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        why = why[-1] if why else f"git {args[0]} failed"
        raise InvalidValue("revision", spec, why, message=f"{spec}: {why}")
    return done.stdout


def revision_documents(spec: str, cwd: str | None = None) -> list[Document]:
    """The documents of `REF:PATH`: the file, or every manifest file below the directory (as
    `expand_paths` takes them from a directory). PATH is relative to the repository's top, as
    git reads it (`REF:./PATH` for one relative to the current directory). Raises InvalidValue
    when this is no git repository or the revision or path does not exist; ManifestError for
    the manifests themselves."""
    ref, _, path = spec.partition(":")
    _git(["rev-parse", "--git-dir"], spec, cwd)  # "not a git repository", worded by git
    kind = _git(["cat-file", "-t", spec], spec, cwd).decode().strip()
    if kind == "blob":
        files = [path]
        object_names = [spec]
    elif kind == "tree":
        listing = _git(["ls-tree", "-r", "-z", spec], spec, cwd).decode()
        entries = []
        for item in filter(None, listing.split("\0")):
            meta, _, name = item.partition("\t")
            mode, otype, oid = meta.split()
            if otype == "blob" and Path(name).suffix.lower() in SUFFIXES:
                entries.append((name, oid))
        entries.sort()
        files = [f"{path.rstrip('/')}/{name}" if path else name for name, _ in entries]
        object_names = [oid for _, oid in entries]
    else:
        why = f"names a git {kind}, not a file or directory"
        raise InvalidValue("revision", spec, why, message=f"{spec}: {why}")
    docs: list[Document] = []
    problems: list[Problem] = []
    for file, obj in zip(files, object_names, strict=True):
        name = f"{ref}:{file}"
        try:
            text = decode(_git(["cat-file", "blob", obj], spec, cwd))
        except UnicodeDecodeError as err:
            problems.append(Problem(name, None, "", "", f"cannot read: {err}"))
            continue
        try:
            docs += parse_text(name, text)
        except ManifestError as err:
            problems += err.problems
    if problems:
        raise ManifestError(problems)
    return docs


def load_side(spec: str, namespace: str = "default", cwd: str | None = None) -> Cluster:
    """The cluster of one side of a comparison: `REF:PATH` from git (`is_revision`), else a
    file or directory as `load_cluster` reads it."""
    if is_revision(spec):
        return resolve(parse_documents(revision_documents(spec, cwd), namespace))
    return load_cluster([spec], namespace)
