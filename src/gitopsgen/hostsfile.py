"""/etc/hosts lines for the tenants, and a marked block of a hosts file that holds them.

The seed's ``hack/add_host.sh`` appended one line per tenant to /etc/hosts and never
removed any. Here the lines live between ``# BEGIN gitopsgen`` and ``# END gitopsgen``:
updating the file replaces that block only, leaves every other line as it was, and
writes nothing when the block is already right.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitopsgen.errors import GitopsgenError
from gitopsgen.fsio import read_limited, replace_file, rewrite_in_place
from gitopsgen.platform import Cluster

__all__ = [
    "BEGIN",
    "END",
    "HostsUpdate",
    "hosts_lines",
    "ingress_address",
    "read",
    "update",
    "write",
]

BEGIN = "# BEGIN gitopsgen"
END = "# END gitopsgen"
_NOTE = "# tenant hostnames -> ingress address; managed by `gitopsgen hosts --write`"


def ingress_address(cluster: Cluster) -> str:
    """The address the tenant hostnames of ``cluster`` resolve to: the reserved
    address of the ingress Gateway's service (``reserved.<defaults.ingress.gateway.name>``)."""
    gateway = cluster.defaults.ingress.gateway.name
    address = cluster.reserved.get(gateway)
    if address is None:
        where = "" if cluster.spec is None else f" of cluster {cluster.name}"
        raise GitopsgenError(
            f"no ingress address: tenants.yaml reserves no address{where} for {gateway!r} "
            f"(the Gateway defaults.ingress.gateway.name); add it under reserved, "
            f"e.g. `reserved: {{{gateway}: 172.18.0.200}}`"
        )
    return str(address)


def hosts_lines(cluster: Cluster) -> list[str]:
    """``ADDRESS HOSTNAME`` for every tenant of ``cluster``, in tenant name order."""
    address = ingress_address(cluster)
    return [f"{address} {t.hostname}" for t in cluster.tenants]


@dataclass(frozen=True)
class HostsUpdate:
    text: str
    changed: bool
    added: list[str]
    removed: list[str]


def update(text: str, lines: list[str], label: str = "hosts file") -> HostsUpdate:
    """``text`` with its gitopsgen block holding exactly ``lines`` (appended at the end
    when there is no block yet). Every line outside the block is kept byte for byte."""
    rows = text.splitlines(keepends=True)
    begins = [i for i, row in enumerate(rows) if row.strip() == BEGIN]
    ends = [i for i, row in enumerate(rows) if row.strip() == END]
    if len(begins) > 1 or len(ends) > 1:
        raise GitopsgenError(f"{label}: more than one '{BEGIN}' block; merge them by hand first")
    if len(begins) != len(ends) or (begins and ends[0] < begins[0]):
        raise GitopsgenError(
            f"{label}: a '{BEGIN}' line without a matching '{END}' after it; fix the file by hand"
        )
    first = rows[0] if rows else ""
    newline = "\r\n" if first.endswith("\r\n") else "\r" if first.endswith("\r") else "\n"
    block = [BEGIN, _NOTE, *lines, END]
    new_rows = [row + newline for row in block]
    if begins:
        start, stop = begins[0], ends[0] + 1
        old = [r.strip() for r in rows[start + 1 : stop - 1] if not r.lstrip().startswith("#")]
        out = [*rows[:start], *new_rows, *rows[stop:]]
    else:
        old = []
        head = list(rows)
        if head and not head[-1].endswith(("\n", "\r")):
            head[-1] += newline
        out = [*head, *new_rows]
    new_text = "".join(out)
    wanted = [line.strip() for line in lines]
    old_set, wanted_set = set(old), set(wanted)  # sets: linear, not quadratic
    return HostsUpdate(
        text=new_text,
        changed=new_text != text,
        added=[line for line in wanted if line not in old_set],
        removed=[line for line in old if line and line not in wanted_set],
    )


# A hosts file with one line per tenant of the largest tenants.yaml is about 15 MB.
MAX_BYTES = 64 * 1024 * 1024


def read(path: Path) -> str:
    """The text of a hosts file ('' when it does not exist), byte for byte: line
    breaks untouched (CRLF, CR) and bytes that are not UTF-8 kept as surrogates,
    which :func:`write` turns back into the same bytes."""
    try:
        raw = read_limited(path, MAX_BYTES)
    except FileNotFoundError:
        return ""
    except ValueError as exc:
        raise GitopsgenError(f"{path}: {exc}") from None
    except OSError as exc:
        raise GitopsgenError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return raw.decode("utf-8", "surrogateescape")


def write(path: Path, text: str) -> Path | None:
    """Back ``path`` up as ``path~``, then replace it atomically with ``text``.
    Returns the backup's path (None when the file did not exist). The backup is a
    new file renamed over ``path~``: a symbolic link planted there is replaced,
    never followed. ``path`` itself, when it is a link, is rewritten where it leads
    (the user named it)."""
    data = text.encode("utf-8", "surrogateescape")
    backup: Path | None = None
    if path.exists():
        backup = path.with_name(path.name + "~")
        try:
            old = read_limited(path, MAX_BYTES)
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except (OSError, ValueError) as exc:
            raise GitopsgenError(f"{path}: cannot read: {exc}") from None
        # A new file renamed over path~: a link planted there is replaced, not followed.
        replace_file(backup, old, mode=mode, label=f"{backup} (the backup)", follow_link=False)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        replace_file(target, data, label=str(path))
    except GitopsgenError:
        # /etc/hosts is often a bind mount (containers) that cannot be renamed over;
        # the backup exists, so rewrite it in place.
        if not path.exists():
            raise
        try:
            rewrite_in_place(target, data)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise GitopsgenError(
                    f"{path}: permission denied; run with sudo, or print the lines "
                    "with `gitopsgen hosts` and add them yourself"
                ) from None
            raise GitopsgenError(f"{path}: cannot write: {exc.strerror}") from None
    return backup
