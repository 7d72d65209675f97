"""Export files appear whole or not at all.

Everything is written into a hidden work folder on the same file system
as the target, then renamed into place: a new export folder by one
rename of the whole work folder, files into an existing folder one
``os.replace`` each (an older file of the same name, when overwriting is
asked for, is kept aside until every file is in place, and put back if a
rename fails). If anything fails before, the work folder is deleted and
the target is as it was.
"""
from __future__ import annotations

import os
import shutil
import uuid

from ..store.errors import ExportError, ExportTargetExistsError

WORK_PREFIX = ".stdm-export-"


class PendingExport:
    """A target folder and the work folder the export is written into first."""

    def __init__(self, folder: str, *, overwrite: bool) -> None:
        self.folder = os.path.abspath(folder)
        self.overwrite = overwrite
        self.new_folder = not os.path.exists(self.folder)
        if not self.new_folder and not os.path.isdir(self.folder):
            raise ExportError(f"{self.folder} is a file, not a folder.", self.folder)
        home = os.path.dirname(self.folder) if self.new_folder else self.folder
        if not os.path.isdir(home):
            raise ExportError(f"The folder {home} does not exist.", home)
        if not os.access(home, os.W_OK):
            raise ExportError(f"Cannot write in the folder {home}.", home)
        name = os.path.basename(self.folder) if self.new_folder else ""
        self.work = os.path.join(home, f"{WORK_PREFIX}{name}{uuid.uuid4().hex[:12]}.partial")
        os.mkdir(self.work)

    def path(self, name: str) -> str:
        """Where to write ``name`` now (inside the work folder)."""
        return os.path.join(self.work, name)

    def final(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def refuse_existing(self, names: list[str]) -> None:
        """Refuse before any work when the export would replace files (unless asked to)."""
        if self.overwrite or self.new_folder:
            return
        taken = [n for n in names if os.path.lexists(self.final(n))]
        if taken:
            raise ExportTargetExistsError(
                f"{self.folder} already holds {', '.join(sorted(taken))}; choose another "
                "folder or file name, or allow overwriting.", self.folder)

    def publish(self, names: list[str]) -> list[str]:
        """Move ``names`` into place (the last one last); returns their final paths."""
        for leftover in os.listdir(self.work):  # GDAL's journals and the like
            if leftover not in names:
                _remove(os.path.join(self.work, leftover))
        if self.new_folder:
            if os.path.exists(self.folder):
                raise ExportTargetExistsError(
                    f"{self.folder} appeared while the export was written.", self.folder)
            os.replace(self.work, self.folder)
        else:
            self.refuse_existing(names)
            _move_all([(self.path(n), self.final(n)) for n in names])
        return [self.final(n) for n in names]

    def discard(self) -> None:
        if os.path.isdir(self.work):
            shutil.rmtree(self.work, ignore_errors=True)


def _move_all(pairs: list[tuple[str, str]]) -> None:
    moved: list[str] = []
    kept_aside: list[tuple[str, str]] = []
    try:
        for source, target in pairs:
            if os.path.lexists(target):
                aside = f"{target}.{uuid.uuid4().hex[:8]}.stdm-old"
                os.replace(target, aside)
                kept_aside.append((aside, target))
            os.replace(source, target)
            moved.append(target)
    except BaseException:
        for target in moved:
            _remove(target)
        for aside, target in kept_aside:
            os.replace(aside, target)
        raise
    for aside, _target in kept_aside:
        _remove(aside)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
