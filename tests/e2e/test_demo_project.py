"""End to end: the demo project opens in the QGIS desktop and a parcel's form lists its tenure.

What a land officer does on the demo: build it (``build.py demo``), open the
project in QGIS with the plugin installed from its zip, zoom to the parcels and
open one parcel's form on its Tenure tab. Run against the real QGIS executable
on an X server, it catches what the offscreen tests cannot: a project whose
layers or relations QGIS cannot restore from the file, and forms that do not
come up in the desktop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    system_python_first,
    tail,
)

DEMO_SCRIPT = REPO_ROOT / "scripts" / "demo.py"
DEMO_PROJECT = "koumassi_demo.qgz"
DEMO_STORE = "koumassi_demo.sqlite"
SCREENSHOT = ARTIFACTS / "qgis_desktop_demo_parcel_form.png"
SCENARIO = "demo_project"
PARCELS_LAYER = "Parcels"
TENURE_TAB = "Tenure"
TENURE_RELATION = "stdm_parcel_tenure"
DEMO_PARCELS = 320
RELATIONS = 12
# Budget: the demo builds in ~2 s and the whole test takes ~12 s; these bounds only
# matter when something hangs, and together stay under 100 s.
DEMO_TIMEOUT_S = 30
RESULT_TIMEOUT_S = 40
QUIT_DELAY_MS = 4000
SCREENSHOT_AFTER_S = 1.5
EXIT_TIMEOUT_S = 20


def _build_demo(out: Path) -> Path:
    """Run scripts/demo.py as `build.py demo` does, into out; return the project file."""
    env = system_python_first(dict(os.environ))
    env["QT_QPA_PLATFORM"] = "offscreen"
    # Keep the demo's QgsApplication away from the developer's own QGIS settings.
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(out.parent / "demo-settings")
    done = subprocess.run(
        [sys.executable, str(DEMO_SCRIPT), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"scripts/demo.py failed:\n{done.stdout}\n{done.stderr}"
    project = out / DEMO_PROJECT
    assert project.is_file(), f"no {DEMO_PROJECT} in {out}:\n{done.stdout}"
    assert (out / DEMO_STORE).is_file(), f"no {DEMO_STORE} in {out}:\n{done.stdout}"
    return project


@pytest.mark.e2e
def test_demo_project_opens_and_parcel_form_lists_tenure(tmp_path: Path) -> None:
    """Demo project and packaged plugin in QGIS: layers, relations, a parcel's Tenure tab."""
    qgis = shutil.which("qgis")
    if qgis is None:
        pytest.skip("qgis executable not found; `python3 build.py setup` installs it")

    project = _build_demo(tmp_path / "demo")
    plugin_zip = load_build_module().build_package(REPO_ROOT, tmp_path / "dist")
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
        project=project,
        scenario={"STDM_E2E_SCENARIO": SCENARIO, "STDM_E2E_PROJECT": str(project)},
    )
    keep_artifacts("qgis_desktop_demo_", result_path, messages_path, log)

    context = f"QGIS output tail:\n{tail(log)}\nscreenshot: {SCREENSHOT}"
    assert messages_path.exists(), f"the message hook never ran in QGIS.\n{context}"
    errors = describe_errors(messages_path)
    assert not errors, f"errors in the QGIS message log:\n{errors}\n{context}"
    assert result_path.exists(), f"QGIS never reported (exit code {exit_code}).\n{context}"
    result = json.loads(result_path.read_text(encoding="utf-8"))
    shown = json.dumps({k: v for k, v in result.items() if k != "messages"}, indent=2)
    assert "script_error" not in result, result["script_error"]
    assert result["loaded"], f"{PLUGIN} is not among the active plugins:\n{shown}\n{context}"
    assert Path(result["project_file"]).resolve() == project.resolve(), shown

    layers = {layer["name"]: layer for layer in result["layers"]}
    invalid = [name for name, layer in layers.items() if not layer["valid"]]
    assert layers and not invalid, f"invalid layers {invalid}:\n{shown}"
    assert result["parcels_layer"] == PARCELS_LAYER, shown
    assert layers[PARCELS_LAYER]["features"] == DEMO_PARCELS, shown
    relations = result["relations"]
    assert len(relations) == RELATIONS and all(relations.values()), shown

    assert not result["project_modified_before_form"], f"opening modified the project:\n{shown}"
    assert result["canvas_drawn"] and result["canvas_shows_layer"], shown
    assert result["parcel_found"] and result.get("form_visible"), shown
    assert result.get("current_tab") == TENURE_TAB, shown
    # The editor is found by its relation's id: a form saved without it shows an empty tab.
    assert result.get("relation_editor_found"), f"no {TENURE_RELATION} editor:\n{shown}"
    assert len(result.get("tenure_rows", [])) >= 1, f"the Tenure tab lists no tenure:\n{shown}"
    assert exit_code == 0, f"QGIS did not exit cleanly (exit code {exit_code}).\n{context}"
