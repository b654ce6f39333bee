"""The one atomic file writer and the one bounded file reader of gitopsgen.

Every file gitopsgen writes (the output tree, tenants.yaml, a hosts file and its
backup, an imported tenants.yaml) goes through :func:`write_atomic`: the data goes
to a temporary file in the same directory, created exclusively (never through a
link), which is renamed over the destination. A symbolic link at the destination
is replaced, never followed; the destination's permission bits are kept.

Temporary files carry a name only gitopsgen makes, ``.NAME.gitopsgen-tmp-TOKEN``,
and the TOKEN is first recorded in a :class:`Journal` next to them. A process
killed between creating and renaming a temporary file leaves it behind; the next
write in that directory finds the token in the journal and removes exactly those
files. A file that merely looks like a temporary file is never deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from gitopsgen.errors import GitopsgenError

__all__ = [
    "JOURNAL_HEADER",
    "TMP_MARK",
    "Journal",
    "commit_temporary",
    "read_limited",
    "replace_file",
    "rewrite_in_place",
    "temporary_path",
    "temporary_token",
    "write_atomic",
    "write_temporary",
]

TMP_MARK = ".gitopsgen-tmp-"
JOURNAL_HEADER = b"# gitopsgen journal: tokens of temporary files of an unfinished write\n"
_TOKEN = re.compile(r"^[0-9a-f]{16}$")


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import, before any thread of gitopsgen's exists (os.umask can only be
# read by setting it).
_UMASK = _read_umask()

# Tests set this to inject failures between file operations (crash simulation).
before_operation: Callable[[str, str], None] | None = None


def step(kind: str, path: str) -> None:
    if before_operation is not None:
        before_operation(kind, path)


def temporary_token() -> str:
    return secrets.token_hex(8)


def token_of(name: str) -> str | None:
    """The token of a temporary file name ``.X.gitopsgen-tmp-TOKEN``, else None."""
    if not name.startswith("."):
        return None
    _, mark, token = name.rpartition(TMP_MARK)
    return token if mark and _TOKEN.match(token) else None


class Journal:
    """The tokens of writes that may have been killed in one directory.

    ``begin()`` removes the temporaries of earlier, unfinished writes whose tokens
    the journal holds, then appends this write's token (written before the first
    temporary file exists); ``finish()`` removes the journal. Callers hold a lock.
    """

    def __init__(self, path: Path, error: type[GitopsgenError] = GitopsgenError) -> None:
        self.path = path
        self.error = error
        self.token = temporary_token()

    def tokens(self) -> set[str]:
        """Tokens recorded by unfinished writes (empty when there is no journal)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise self.error(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise self.error(f"{self.path}: not a regular file; move it away")
            data = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        if not data.startswith(JOURNAL_HEADER):
            raise self.error(
                f"{self.path}: a file gitopsgen did not write stands where it keeps its "
                "journal; move it away (nothing was written)"
            )
        lines = data[len(JOURNAL_HEADER) :].decode("ascii", "replace").splitlines()
        return {line for line in lines if _TOKEN.match(line)}

    def remove_leftovers(self, candidates: Iterable[Path], tokens: set[str]) -> None:
        for path in candidates:
            if token_of(path.name) in tokens:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def begin(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise self.error(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        try:
            head = b"" if os.fstat(fd).st_size else JOURNAL_HEADER
            os.write(fd, head + self.token.encode() + b"\n")
        except OSError as exc:
            raise self.error(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def finish(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    token: str | None = None,
    mode: int | None = None,
    durable: bool = True,
    label: str | None = None,
    error: type[GitopsgenError] = GitopsgenError,
) -> None:
    """Replace ``path`` with ``data`` atomically, keeping its permission bits (or
    ``mode``; 0644 for a new file). A link at ``path`` is replaced, never followed.
    ``durable`` fsyncs the data before the rename (a power loss keeps old or new)."""
    tmp = write_temporary(
        path, data, token=token, mode=mode, durable=durable, label=label, error=error
    )
    commit_temporary(tmp, path, label=label, error=error)


def temporary_path(path: Path, token: str) -> Path:
    """Where :func:`write_temporary` puts the new version of ``path``."""
    return path.with_name(f".{path.name}{TMP_MARK}{token}")


def write_temporary(
    path: Path,
    data: str | bytes,
    *,
    token: str | None = None,
    mode: int | None = None,
    durable: bool = True,
    label: str | None = None,
    error: type[GitopsgenError] = GitopsgenError,
) -> Path:
    """The first half of :func:`write_atomic`: ``data`` in a new temporary file next to
    ``path`` (created exclusively, never through a link), with ``path``'s permission
    bits (or ``mode``); :func:`commit_temporary` renames it over ``path``. A build
    writes every file's temporary before it renames any (gitopsgen.tree)."""
    raw = data.encode() if isinstance(data, str) else data
    shown = label or str(path)
    if mode is None:
        try:
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o644
        except FileNotFoundError:
            mode = 0o644
        except OSError as exc:
            raise error(f"{shown}: cannot write: {exc.strerror or exc}") from None
    tmp = temporary_path(path, token or temporary_token())
    created = False
    # Created with its final bits when the umask leaves them alone (no chmod: one
    # system call less for each of a cold build's 300,000 files); else created
    # private and widened, as ever.
    direct = mode & ~_UMASK == mode
    try:
        step("write", shown)  # inside the try: tests raise OSError here for a full disk
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, mode if direct else 0o600)
        created = True
        try:  # plain os.write: a file object would fstat and buffer for nothing
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if not direct:
            os.chmod(tmp, mode)
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise error(f"{shown}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return tmp


def commit_temporary(
    tmp: Path,
    path: Path,
    *,
    label: str | None = None,
    error: type[GitopsgenError] = GitopsgenError,
) -> None:
    """Rename the temporary file ``tmp`` over ``path`` (removing ``tmp`` on failure)."""
    shown = label or str(path)
    try:
        step("rename", shown)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise error(f"{shown}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def replace_file(
    path: Path,
    data: str | bytes,
    *,
    mode: int | None = None,
    label: str | None = None,
    follow_link: bool = True,
) -> None:
    """:func:`write_atomic` for a file a person names (tenants.yaml, a hosts file and
    its backup), durably, with a journal next to it (``.NAME.gitopsgen-journal``,
    there only while it writes): the temporary file of a write killed before its
    rename is removed by the next write of the same file, and nothing else ever is.
    A link at ``path`` is written where it leads (the user named the link), unless
    ``follow_link`` is false (a backup: a link planted there is replaced)."""
    target = Path(os.path.realpath(path)) if follow_link and path.is_symlink() else path
    journal = Journal(target.with_name(f".{target.name}.gitopsgen-journal"))
    tokens = journal.tokens()
    if tokens:
        prefix = f".{target.name}{TMP_MARK}"
        with contextlib.suppress(OSError):
            journal.remove_leftovers(
                (p for p in target.parent.iterdir() if p.name.startswith(prefix)), tokens
            )
    journal.begin()
    write_atomic(target, data, token=journal.token, mode=mode, label=label or str(path))
    journal.finish()


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Overwrite the regular file ``path`` in place (never through a link), for a
    file that cannot be renamed over (a bind-mounted /etc/hosts). Not atomic: the
    caller made a backup first. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())


def read_limited(path: Path, limit: int, label: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, refusing before reading more than
    ``limit`` bytes, and refusing devices, FIFOs and directories (``/dev/zero``)
    without reading them. Raises OSError (the caller words it) or ValueError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file (a device, FIFO or socket); refusing to read it")
        if st.st_size > limit:
            raise ValueError(f"file is {st.st_size} bytes; the limit is {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"file is more than {limit} bytes; the limit is {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def move_tree(source: Path, destination: Path) -> None:
    """Rename directory ``source`` to ``destination`` (``gitopsgen migrate
    --move-output``): one rename on the same file system, refused when the
    destination exists."""
    if destination.exists() or destination.is_symlink():
        raise GitopsgenError(f"{destination}: already exists; nothing was moved")
    destination.parent.mkdir(parents=True, exist_ok=True)
    step("rename", str(source))
    os.rename(source, destination)
