"""build.py's packaging on a small fake repo: fast, and runs even where QGIS is missing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from .e2e.qgis_desktop import load_build_module

build = load_build_module()


def _fake_repo(root: Path) -> Path:
    """A minimal plugin tree with the clutter a working copy accumulates."""
    package = root / "stdm_plugin"
    (package / "core" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("def classFactory(iface): ...\n")
    (package / "core" / "store.py").write_text("STORE = 1\n")
    (package / "core" / "__pycache__" / "store.cpython-311.pyc").write_bytes(b"\0")
    (package / ".hidden.swp").write_text("editor swap\n")
    (root / "metadata.txt").write_text("[general]\nname=STDM\nversion=1.2.3\nabout=100% local\n")
    (root / "resources").mkdir()
    (root / "resources" / "icon.svg").write_text("<svg/>\n")
    (root / "LICENSE").write_text("GPL\n")
    return root


def test_zip_has_one_top_folder_with_metadata_and_extras(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    target = build.build_package(root, tmp_path / "dist")
    assert target.name == "stdm_plugin-1.2.3.zip"
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
    assert names == [
        "stdm_plugin/LICENSE",
        "stdm_plugin/__init__.py",
        "stdm_plugin/core/store.py",
        "stdm_plugin/metadata.txt",
        "stdm_plugin/resources/icon.svg",
    ]


def test_same_tree_gives_the_same_zip(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    first = build.build_package(root, tmp_path / "one").read_bytes()
    assert build.build_package(root, tmp_path / "two").read_bytes() == first


def test_missing_version_is_a_clear_error(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    (root / "metadata.txt").write_text("[general]\nname=STDM\n")
    with pytest.raises(build.BuildError, match="version"):
        build.build_package(root, tmp_path / "dist")


def test_a_file_from_two_sources_is_refused(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    (root / "stdm_plugin" / "metadata.txt").write_text("[general]\nversion=0\n")
    with pytest.raises(build.BuildError, match="both"):
        build.build_package(root, tmp_path / "dist")
