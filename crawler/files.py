"""Trawl's own files (logs, notices, databases): private folders and files, no symlinks.

Why: crawl logs and notices name the URLs of abuse material and the hotline's work; on a
shared machine another user must not read them, and must not be able to plant a symlink
(`crawl-2.log -> ~victim/.bashrc`) that makes Trawl write into a file of their choosing.
So Trawl's folders are created 0700 and its files 0600, files are opened with O_NOFOLLOW,
and an existing folder is used only if it is a real folder of the current user that no one
else can write to. Existing folders are never chmod-ed: they belong to the user.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import IO, Any

from crawler.errors import TrawlError

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
HOME_ENV = "TRAWL_HOME"
_OPEN_MODES = {
    "a": os.O_APPEND,
    "ab": os.O_APPEND,
    "w": os.O_TRUNC,
    "wb": os.O_TRUNC,
}


class PrivateFileError(TrawlError, OSError):
    """A folder or file Trawl would write to is not private to the current user; the
    message is a sentence saying what is wrong and what to do."""


def trawl_home() -> Path:
    """Where Trawl keeps its own data: TRAWL_HOME, else $XDG_DATA_HOME/trawl, else
    ~/.local/share/trawl (the XDG default). Not created here: pass it to private_dir."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore a relative path
        return Path(xdg) / "trawl"
    return Path.home() / ".local" / "share" / "trawl"


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The folder `path`, created 0700 (with any missing parents, also 0700) if absent.

    An existing folder must be a real folder (not a symlink), owned by the current user,
    and not writable by group or others: otherwise PrivateFileError says what is wrong. One
    that others can read is used, with a warning.
    """
    folder = Path(path).expanduser().absolute()
    missing: list[Path] = []
    for level in (folder, *folder.parents):
        if level.is_symlink() or level.exists():
            break
        missing.append(level)
    for level in reversed(missing):
        try:
            level.mkdir(DIR_MODE)
        except FileExistsError:
            pass  # made at the same moment by another process: checked below
        except OSError as exc:
            raise PrivateFileError(
                f"Cannot create the folder {level}: {exc.strerror}. Choose a folder you can "
                f"write to (set {HOME_ENV})."
            ) from None
        else:
            level.chmod(DIR_MODE)  # the umask may have taken bits; never adds any
    _check_dir(folder)
    return folder


def open_private(path: str | os.PathLike[str], mode: str = "a") -> IO[Any]:
    """Open `path` for writing ("a"/"w" text, UTF-8; "ab"/"wb" binary), creating it 0600.

    Refuses (PrivateFileError) a symlink, anything that is not a regular file (a FIFO
    would block), and a file owned by someone else. An existing file keeps its mode.
    """
    if mode not in _OPEN_MODES:
        raise ValueError(f"open_private writes only: mode must be one of {sorted(_OPEN_MODES)}.")
    target = Path(path)
    flags = (os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
             | _OPEN_MODES[mode])
    if _OPEN_MODES[mode] == os.O_TRUNC:
        # Truncating before the checks below would damage a file that is not ours.
        flags &= ~os.O_TRUNC
    try:
        fd = os.open(target, flags, FILE_MODE)
    except OSError as exc:
        if target.is_symlink():
            raise PrivateFileError(
                f"{target} is a symbolic link (to {target.readlink()}); Trawl does not write "
                "through links, which another user could plant. Remove it, or choose another "
                "folder."
            ) from None
        raise PrivateFileError(f"Cannot open {target} for writing: {exc.strerror}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PrivateFileError(
                f"{target} is not a regular file; Trawl writes its files only as plain files."
            )
        if info.st_uid != os.getuid():
            raise PrivateFileError(
                f"{target} belongs to another user (uid {info.st_uid}); Trawl does not write "
                "into other users' files. Remove it, or choose another folder."
            )
        if _OPEN_MODES[mode] == os.O_TRUNC:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8")


def _check_dir(folder: Path) -> None:
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise PrivateFileError(f"Cannot use the folder {folder}: {exc.strerror}.") from None
    if stat.S_ISLNK(info.st_mode):
        raise PrivateFileError(
            f"{folder} is a symbolic link (to {folder.readlink()}); Trawl keeps its files "
            "only in real folders, since a link can be planted by another user. Use the "
            "folder it points to directly, or remove the link."
        )
    if not stat.S_ISDIR(info.st_mode):
        raise PrivateFileError(f"{folder} is not a folder.")
    if info.st_uid != os.getuid():
        raise PrivateFileError(
            f"The folder {folder} belongs to another user (uid {info.st_uid}); Trawl keeps "
            f"its files only in folders of its own user. Choose another folder (set {HOME_ENV})."
        )
    if info.st_mode & 0o022:
        raise PrivateFileError(
            f"The folder {folder} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), who could replace Trawl's files: "
            f"`chmod go-w {folder}`, or choose another folder (set {HOME_ENV})."
        )
    if info.st_mode & 0o055:
        logger.warning(
            "The folder %s can be read by other users (mode %04o); Trawl's files in it are "
            "still private (0600), but `chmod 700 %s` keeps their names private too.",
            folder, stat.S_IMODE(info.st_mode), folder,
        )
