"""End to end: the packaged plugin, installed from its zip, comes up in the QGIS desktop.

This is the path a user takes (Install from ZIP, restart QGIS, find the STDM
menu), run against the real QGIS executable on an X server rather than the
offscreen test harness, so it catches packaging mistakes, import errors that
only show with the desktop's Python setup, and a menu that never appears.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from .qgis_desktop import (
    ARTIFACTS,
    PLUGIN,
    REPO_ROOT,
    describe_errors,
    install_plugin,
    keep_artifacts,
    load_build_module,
    run_desktop,
    tail,
)

SCREENSHOT = ARTIFACTS / "qgis_desktop_plugin_loaded.png"
EXPECTED_ACTIONS = ("New settlement store", "Open settlement store", "Adjudicate claims",
                    "Issue certificates", "Certificate register", "Verify certificate",
                    "Check geometry", "Export", "Create field package",
                    "Merge field package")
EXPECTED_ALGORITHMS = ["stdm:checkgeometry", "stdm:cutfieldpackage", "stdm:exportchanges",
                       "stdm:exportstore", "stdm:importstructures", "stdm:mergefieldpackage",
                       "stdm:reconcilecadastre"]
# Budget: QGIS normally reports within ~10 s; all waits together stay under 180 s.
RESULT_TIMEOUT_S = 100
QUIT_DELAY_MS = 5000
SCREENSHOT_AFTER_S = 1.5
EXIT_TIMEOUT_S = 20


def _check_zip_layout(plugin_zip: Path) -> None:
    """QGIS's installer wants one top folder holding metadata.txt and __init__.py."""
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
    assert names, "plugin zip is empty"
    assert {name.split("/", 1)[0] for name in names} == {PLUGIN}
    assert f"{PLUGIN}/metadata.txt" in names
    assert f"{PLUGIN}/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.e2e
def test_plugin_installed_from_zip_shows_stdm_menu(tmp_path: Path) -> None:
    """A user's install: zip from build.py, a fresh profile, QGIS on a real X display."""
    qgis = shutil.which("qgis")
    if qgis is None:
        pytest.skip("qgis executable not found; `python3 build.py setup` installs it")

    plugin_zip = load_build_module().build_package(REPO_ROOT, tmp_path / "dist")
    _check_zip_layout(plugin_zip)
    profiles = tmp_path / "profiles"
    install_plugin(plugin_zip, profiles)
    result_path = tmp_path / "result.json"
    messages_path = tmp_path / "messages.jsonl"
    log = tmp_path / "qgis.log"

    exit_code = run_desktop(
        qgis,
        profiles,
        result=result_path,
        messages=messages_path,
        log=log,
        shot=SCREENSHOT,
        quit_delay_ms=QUIT_DELAY_MS,
        result_timeout=RESULT_TIMEOUT_S,
        exit_timeout=EXIT_TIMEOUT_S,
        screenshot_after=SCREENSHOT_AFTER_S,
    )
    keep_artifacts("qgis_desktop_", result_path, messages_path, log)

    context = f"QGIS output tail:\n{tail(log)}\nscreenshot: {SCREENSHOT}"
    assert messages_path.exists(), f"the message hook never ran in QGIS.\n{context}"
    errors = describe_errors(messages_path)
    assert not errors, f"errors in the QGIS message log:\n{errors}\n{context}"
    assert result_path.exists(), f"QGIS never reported (exit code {exit_code}).\n{context}"
    result = json.loads(result_path.read_text(encoding="utf-8"))
    shown = json.dumps(result, indent=2)
    assert "script_error" not in result, result["script_error"]
    assert result["loaded"], f"{PLUGIN} is not among the active plugins:\n{shown}\n{context}"
    assert result["menu_found"], f"no top-level STDM menu:\n{shown}"
    for prefix in EXPECTED_ACTIONS:
        assert any(text.startswith(prefix) for text in result["menu_actions"]), (
            f"no menu action starting {prefix!r}: {result['menu_actions']}"
        )
    assert result["toolbar_found"], f"no STDM toolbar:\n{shown}"
    assert result["processing_algorithms"] == EXPECTED_ALGORITHMS, (
        f"the Processing toolbox lists {result['processing_algorithms']}")
    assert exit_code == 0, f"QGIS did not exit cleanly (exit code {exit_code}).\n{context}"
