"""What a returned package's folder may hold, and where its document files may go.

A package comes back from the field on a stick or by mail: whoever had it
could put anything in its folder. Only plain folders and regular files are
accepted (no links, no pipes or devices), a document file must be named the
way the plugin names them (``<first two hex digits>/<SHA-256>``, the digest
of its own content), and every path, read or written, is checked by its real
path against the folder it must stay in.
"""
from __future__ import annotations

import os
import re
import stat

from ..store.errors import FieldPackageError

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_package_folder(folder: str) -> None:
    """Refuse a package folder holding a link or anything but folders and regular files."""
    for root, folders, files in os.walk(folder, followlinks=False):
        for name in (*folders, *files):
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                kind = "a link"
            elif not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                kind = "a special file (pipe, socket or device)"
            else:
                continue
            raise FieldPackageError(
                f"The package {folder} holds {kind}, {os.path.relpath(path, folder)}; a field "
                "package holds only folders and files. Nothing was merged.", kind="document",
                path=path)


def document_path(row: dict) -> str:
    """The path of a document's file inside a documents folder, as the plugin names it."""
    digest = str(row.get("sha256") or "")
    relative = str(row.get("relative_path") or "")
    if not _SHA256.fullmatch(digest) or relative != f"{digest[:2]}/{digest}":
        raise FieldPackageError(
            f"The package's document {row.get('file_name')!r} is named {relative!r}, not as "
            "the plugin names document files (by their SHA-256); nothing was merged.",
            kind="document", path=relative)
    return relative


def inside(folder: str, relative: str) -> str:
    """``folder``/``relative`` by its real path, refused when it would leave ``folder``."""
    base = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(base, relative))
    if not path.startswith(base + os.sep):
        raise FieldPackageError(f"The document path {relative!r} leaves {folder}; nothing was "
                                "merged.", kind="document", path=path)
    return path
