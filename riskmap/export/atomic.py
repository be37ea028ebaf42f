"""Outputs appear whole or not at all: the one place where riskmap moves a file into place.

A build writes an area's files into a hidden temporary folder beside the
destination and moves it into place only when every file is complete
(:func:`atomic_folder`); single files go through :func:`atomic_file` (or
:func:`write_bytes`). An existing output is replaced only with ``overwrite``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from riskmap.errors import ExportError

_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
            *(f"LPT{i}" for i in range(1, 10))}


def safe_name(name: str) -> str:
    """A folder name that is safe on Windows and cannot leave its parent.

    Reserved characters become ``_``; leading and trailing dots and spaces go
    (Windows drops them); device names such as ``CON`` or ``COM1`` get a ``_``.
    """
    s = _BAD.sub("_", str(name)).strip(" .")
    if s.split(".")[0].strip().upper() in _DEVICES:
        s = "_" + s
    return s or "_"


def recover(dest: Path) -> None:
    """Undo what a build killed in the middle left beside ``dest``.

    A build replaces an area folder with two renames (old folder aside, new one
    in). Killed between them, ``dest`` is missing and the previous folder waits as
    ``.<name>.old-<pid>``: it is put back. Temporary folders and files beside it
    of processes that no longer run are removed (they were never complete).
    """
    dest = Path(dest)
    if not dest.parent.is_dir():
        return
    olds = sorted(dest.parent.glob(f".{dest.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if not dest.exists() and olds:
        os.replace(olds.pop(), dest)
    for p in olds:
        if not _alive(p.name.rsplit("-", 1)[-1]):
            shutil.rmtree(p, ignore_errors=True)
    # every temporary file or folder riskmap left here (dest's, or a file such as
    # atlas.pdf written beside the area folders) whose process no longer runs
    for p in dest.parent.glob(".*.tmp-*"):
        m = _TEMP_NAME.match(p.name)
        if m and not _alive(m.group(1)):
            _remove(p)


#: ``.<name>.tmp-<pid>-<random>``: the temporary names of :func:`atomic_file` and folders
_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def _alive(pid: str) -> bool:
    """Whether process ``pid`` still runs (never signals it)."""
    try:
        n = int(pid)
    except ValueError:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, n)  # query only
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(n, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def check_free(dest: Path, overwrite: bool) -> None:
    """Raise if ``dest`` exists and may not be replaced (after finishing interrupted work)."""
    if Path(dest).parent.is_dir():
        finish_switches(Path(dest).parent)
    recover(dest)
    if dest.exists() and not overwrite:
        raise ExportError(f"{dest}: 输出已存在 (output exists) and won't be overwritten "
                          "without --overwrite")


@contextmanager
def atomic_folder(dest: Path, overwrite: bool = False):
    """Yield a temporary folder; on success it replaces ``dest`` in one move."""
    dest = Path(dest)
    check_free(dest, overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-",
                                    dir=dest.parent))
        _shared(tmp, 0o777)  # mkdtemp makes it private; outputs are shared
    except OSError as e:
        raise ExportError(f"{dest.parent}: cannot create the output folder: {e.strerror}; "
                          "choose another --out") from None
    try:
        yield tmp
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:  # an error, or Ctrl-C: the previous folder stays whole
        shutil.rmtree(tmp, ignore_errors=True)
        recover(dest)
        raise


_NO_SPACE = ("no space left", "disk is full", "disk full", "not enough space", "磁盘空间不足")
_READ_ONLY = ("read-only file system", "readonly database", "permission denied",
              "access is denied")


def io_failure(dest, e: BaseException) -> ExportError | None:
    """A clear ExportError for a full disk or a write-protected place, else None.

    GDAL, SQLite and the OS say it in their own words (``OSError`` ENOSPC,
    ``No space left on device`` inside a GDAL error, ``database or disk is
    full``); the user gets one line that says what happened and that the
    previous outputs are unchanged.
    """
    import errno

    if isinstance(e, ExportError):
        return None  # already ours
    # a file inside a build's staging folder: name the folder the user will look at
    dest = re.sub(r"\.([^/\\]+)\.tmp-\d+-[^/\\]+", r"\1", str(dest))
    text = str(e).lower()
    code = getattr(e, "errno", None)
    full = code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or any(w in text for w in _NO_SPACE)
    if full or _almost_full(Path(dest)):  # GDAL often says only "Failed to commit transaction"
        return ExportError(f"{dest}: 磁盘已满 (disk full) while writing it; nothing was "
                           "replaced, the previous outputs are unchanged; free some space or "
                           "choose another --out")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(w in text for w in _READ_ONLY):
        return ExportError(f"{dest}: 无法写入 (cannot write there: {first_line(e)}); nothing "
                           "was replaced, the previous outputs are unchanged; choose another "
                           "--out or fix the folder's permissions")
    return None


def _almost_full(path: Path) -> bool:
    """Whether the file system of ``path`` has (nearly) no room left."""
    for p in (path, *path.parents):
        if p.exists():
            try:
                return shutil.disk_usage(p).free < 2 * 2**20
            except OSError:
                return False
    return False


def first_line(e: BaseException) -> str:
    """The first line of an error's message."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _shared(path: Path, mode: int) -> None:
    """Give a temporary (private by default) the permissions a normal file would get."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextmanager
def atomic_file(dest, overwrite: bool = False, *, create: bool = True):
    """Yield a temporary path beside ``dest``; on success it replaces ``dest`` in one move.

    Parameters
    ----------
    dest : str or Path
        Final file. The temporary keeps its suffix (GDAL picks drivers by it).
    overwrite : bool
        Replace an existing ``dest`` (else :class:`~riskmap.errors.ExportError`).
    create : bool
        Create the temporary file (default); ``False`` yields a free name, for
        writers that must create the file themselves (GDAL).

    Raises
    ------
    ExportError
        ``dest`` exists without ``overwrite``, or the folder cannot be written.
    """
    dest = Path(dest)
    check_free(dest, overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.tmp-{os.getpid()}-",
                                    suffix=dest.suffix, dir=dest.parent)
        os.close(fd)
    except OSError as e:
        raise ExportError(f"{dest.parent}: 无法写入 (cannot write there): {e.strerror}; "
                          "choose another --out") from None
    tmp = Path(name)
    if not create:
        tmp.unlink()
    try:
        yield tmp
        _shared(tmp, 0o666)
        os.replace(tmp, dest)
    except BaseException as e:  # an error, or Ctrl-C: the previous file stays whole
        _remove(tmp)
        clear = io_failure(dest, e) if isinstance(e, Exception) else None
        if clear is not None:
            raise clear from None
        raise


def write_bytes(dest, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_file`); returns ``dest``."""
    with atomic_file(dest, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text(dest, text: str, overwrite: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``dest`` atomically; returns ``dest``."""
    return write_bytes(dest, text.encode("utf-8"), overwrite)


# --------------------------------------------------------------------------- folder sets
_JOURNAL = ".riskmap-switch-{pid}.json"


@contextmanager
def atomic_folders(dests, overwrite: bool = False):
    """Yield one temporary folder per destination; on success they all switch together.

    The switch is all-or-nothing even if the process is killed in the middle: a
    journal of the moves is written (atomically) before the first one, so the
    next command that writes there completes an interrupted switch (see
    :func:`recover`) instead of leaving new and old areas mixed.

    Parameters
    ----------
    dests : sequence of Path
        Final folders (siblings or not).
    overwrite : bool
        Replace existing folders.

    Yields
    ------
    list of Path
        The temporary folders, in the order of ``dests``.
    """
    dests = [Path(d) for d in dests]
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(_staged(d, overwrite)) for d in dests]
        yield tmps
        moves = [{"dest": str(d), "tmp": str(t),
                  "old": str(d.with_name(f".{d.name}.old-{os.getpid()}"))}
                 for d, t in zip(dests, tmps, strict=True)]
        journals = sorted({d.parent for d in dests})
        for folder in journals:  # every parent knows the whole set
            write_text(folder / _JOURNAL.format(pid=os.getpid()),
                       json.dumps(moves, ensure_ascii=False), overwrite=True)
        _switch(moves)
        for folder in journals:
            (folder / _JOURNAL.format(pid=os.getpid())).unlink(missing_ok=True)


@contextmanager
def _staged(dest: Path, overwrite: bool):
    """A temporary folder beside ``dest``, removed unless the switch took it."""
    check_free(dest, overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-{os.getpid()}-",
                                    dir=dest.parent))
        _shared(tmp, 0o777)
    except OSError as e:
        raise ExportError(f"{dest.parent}: cannot create the output folder: {e.strerror}; "
                          "choose another --out") from None
    try:
        yield tmp
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        clear = io_failure(dest, e) if isinstance(e, Exception) else None
        if clear is not None:
            raise clear from None
        raise


def _switch(moves: list[dict]) -> int:
    """Do (or finish) the moves of a journal; idempotent. Returns how many folders moved."""
    n = 0
    for m in moves:
        dest, tmp, old = Path(m["dest"]), Path(m["tmp"]), Path(m["old"])
        if not tmp.exists():
            continue  # done already
        if dest.exists() and not old.exists():
            os.replace(dest, old)
        elif dest.exists():
            _remove(dest)  # a half-done earlier attempt: the old copy is already aside
        os.replace(tmp, dest)
        n += 1
    for m in moves:
        shutil.rmtree(m["old"], ignore_errors=True)
    return n


def finish_switches(folder: Path) -> int:
    """Complete the folder switches that a killed riskmap left journaled in ``folder``.

    Returns
    -------
    int
        Folders moved into place (a :class:`~riskmap.errors.RiskmapWarning` says so).
    """
    import warnings

    from riskmap.errors import RiskmapWarning

    n = 0
    for j in sorted(Path(folder).glob(_JOURNAL.format(pid="*"))):
        if _alive(j.stem.rsplit("-", 1)[-1]):
            continue  # that switch is happening now
        try:
            moves = json.loads(j.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            moves = []  # a torn journal: the switch had not started
        done = _switch(moves)
        for m in moves:
            jj = Path(m["dest"]).parent / j.name
            jj.unlink(missing_ok=True)
        j.unlink(missing_ok=True)
        if done:
            warnings.warn(f"{folder}: 上次生成被中断, 已完成切换 (an interrupted build was "
                          f"completed: {done} folder(s) of its set moved into place, so no "
                          "area mixes old and new outputs)", RiskmapWarning, stacklevel=2)
        n += done
    return n


# --------------------------------------------------------------------------- locks
@contextmanager
def lock(target, what: str = "输出目录 (output folder)",
         fix: str = "wait for it to finish, or use another --out"):
    """Hold an exclusive lock on ``target`` (a folder or file) for the ``with`` block.

    A second riskmap that wants the same target fails at once with a message
    naming the process that holds it. The lock file lives in the temporary
    folder (keyed by the target's path), so outputs and histories get no extra file.

    Raises
    ------
    ExportError
        Another riskmap process holds the lock.
    """
    import hashlib

    key = hashlib.sha1(str(Path(target).resolve()).encode("utf-8")).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "riskmap-locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.lock"
    f = open(path, "a+", encoding="utf-8")  # held open for the block
    try:
        if not _try_lock(f):
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise ExportError(f"{target}: {what}正被另一个 riskmap 使用 (in use by {holder}); "
                              f"{fix}")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        yield path
    finally:
        _unlock(f)
        f.close()


def _try_lock(f) -> bool:
    if os.name == "nt":
        import msvcrt

        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(f) -> None:
    try:
        if os.name == "nt":
            import msvcrt

            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass
