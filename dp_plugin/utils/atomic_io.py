"""Atomic file writes: data goes to a temporary file next to the target and is renamed
over it with :func:`os.replace` once complete, so a crash never leaves a partial file.

Every writer of this project goes through :func:`atomic_write` /
:func:`atomic_write_bytes`; :func:`remove_stale_temp_files` sweeps the temporary files of
killed writers (their names carry :data:`TEMP_MARKER` and the writer's pid; files of
running writers, in this or any other process, are never touched).

Temporary names are ``.{name}{TEMP_MARKER}{pid}-{random}`` with ``{name}`` shortened so
the temporary name is never longer than the file system allows (``NAME_MAX`` bytes):
every legal target name can be written.
"""
import contextlib
import os
import os.path as osp
import re
import tempfile
from typing import IO, Iterator, Union

#: Marker in the names of temporary files written by :func:`atomic_write`.
TEMP_MARKER = '.dp-tmp-'


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched (an
    existing file keeps its old content). The data is fsync-ed before the rename.
    """
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(folder, osp.basename(path)), dir=folder)
    try:
        os.fchmod(fd, _plain_open_mode(path))  # mkstemp creates 0600
        with os.fdopen(fd, mode, **({} if 'b' in mode else {'encoding': 'utf-8'})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _plain_open_mode(path: str) -> int:
    """The permission bits a plain ``open(path, 'w')`` would leave: an existing file keeps
    its own, a new one gets ``0o666`` less the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        pass
    try:  # Linux: read the umask without changing it (os.umask is process-wide)
        with open('/proc/self/status', 'rb') as fh:
            umask = int(next(ln for ln in fh if ln.startswith(b'Umask:')).split()[1], 8)
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


#: Length of the random part ``tempfile.mkstemp`` appends to the prefix.
_RANDOM_CHARS = 8


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, 'PC_NAME_MAX')
    except (OSError, ValueError, AttributeError):
        return 255


def _temp_prefix(folder: str, name: str) -> str:
    """``.{name}{TEMP_MARKER}{pid}-`` with ``name`` cut so the whole temporary name
    (prefix plus the random part) fits in ``NAME_MAX`` bytes."""
    tail = f'{TEMP_MARKER}{os.getpid()}-'
    budget = _name_max(folder) - len(os.fsencode('.' + tail)) - _RANDOM_CHARS
    while name and len(os.fsencode(name)) > budget:
        name = name[:-1]
    return f'.{name}{tail}'


_TEMP_RE = re.compile(r'^\..*' + re.escape(TEMP_MARKER) + r'(\d+)-[^/]*$')


def remove_stale_temp_files(folder: str) -> int:
    """Delete temporary files of :func:`atomic_write` left by killed processes.

    Only files whose writer process (pid in the name) no longer runs are removed.
    Returns the number of removed files.
    """
    removed = 0
    for root, _, files in os.walk(folder):
        for name in files:
            match = _TEMP_RE.match(name)
            if not match or _pid_alive(int(match.group(1))):
                continue
            with contextlib.suppress(OSError):
                os.remove(osp.join(root, name))
                removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (signal 0 probes without sending anything)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OverflowError:  # not a pid of this system
        return False
    return True


def atomic_write_bytes(path: Union[str, os.PathLike], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(str(path)) as fh:
        fh.write(data)
