"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import MachineFault


@contextmanager
def replaced_atomically(path: Path, private: bool = False) -> Iterator[Path]:
    """A temporary path beside `path`; written in the block, it replaces `path` on success.

    A crash or an error leaves the previous file as it was (a keyring, yesterday's
    dataset). `private` creates the file readable by its owner only, before anything is
    written to it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    if private:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield temporary
        with temporary.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except OSError as problem:
        if problem.errno in DISK_FULL:
            raise disk_full(path.parent) from None
        raise
    finally:
        temporary.unlink(missing_ok=True)


# What Mellanrum writes is for its own user only: files 0600, folders 0700, whatever the
# umask the process was started with (a shell's 022 would make them world-readable).
PRIVATE_UMASK = 0o077


def keep_private() -> None:
    """From now on this process creates files and folders for its own user only."""
    os.umask(PRIVATE_UMASK)


def private_folder(path: Path) -> Path:
    """`path` as a folder only its owner can enter (made, or tightened if it exists)."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` exists, readable by its owner only (an SQLite file before SQLite opens it:
    its -wal and -shm files then take the same mode)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a folder that exists keeps its mode
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(folder: Path) -> MachineFault:
    return MachineFault(f"the disk holding {folder} is full ({_free(folder)} free): free some space, then run again")


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse to start what would fill the disk holding `folder` (`needed` bytes at least)."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    if shutil.disk_usage(folder).free < needed:
        raise MachineFault(f"the disk holding {folder} has {_free(folder)} free and this run needs about "
                           f"{needed / 2**20:.0f} MiB: free some space, then run again")  # fmt: skip


def _free(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB"
    except OSError:
        return "no space"
