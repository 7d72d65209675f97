"""Helpers to run the real QGIS desktop under Xvfb with a throwaway profile.

Kept out of the test module so the test itself reads as the user's story:
package the plugin, install the zip, start QGIS, look at the screen.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sysconfig
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
STARTUP_SCRIPT = Path(__file__).resolve().with_name("qgis_startup.py")
MESSAGE_HOOK = Path(__file__).resolve().with_name("qgis_message_hook.py")
PLUGIN = "stdm_plugin"
ERROR_TAG = "Python error"
PLUGIN_TAG = "STDM"
DISPLAYS = range(99, 121)
SCREEN = "1280x800x24"
# Set this to an existing X display (e.g. ":1") to watch the test instead of
# starting a private Xvfb.
DISPLAY_ENV = "STDM_E2E_DISPLAY"

# First-run and network-bound extras that would otherwise cover the window or
# wait on the network, and the exit question about "temporary layers", which QGIS
# asks of any layer whose file is under the temp folder, as tests' files are. Keys
# use QSettings' ini spelling ('\' for '/').
QGIS_SETTINGS = """\
[PythonPlugins]
{plugin}=true

[app]
askToSaveMemoryLayers=false
plugin_installer\\checkOnStart=false
plugin_installer\\allowExperimental=true

[qgis]
checkVersion=false

[migration]
firstRunVersionFlag=999999

[core]
NewsFeed\\httpsfeedqgisorg\\disabled=true
"""


def load_build_module() -> ModuleType:
    """Import build.py by path: it is a script at the repo root, not a package."""
    spec = importlib.util.spec_from_file_location("stdm_build", REPO_ROOT / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll condition until it holds or timeout seconds pass; say which happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a process started in its own session, and its children, politely then not."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)


def display_is_free(number: int) -> bool:
    """A display is taken if its socket or lock file exists (possibly another test run)."""
    socket = Path(f"/tmp/.X11-unix/X{number}")
    lock = Path(f"/tmp/.X{number}-lock")
    return not socket.exists() and not lock.exists()


def _start_xvfb(number: int, log: Path) -> subprocess.Popen | None:
    """Start Xvfb on one display; None if it lost a race for that number."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", SCREEN, "-nolisten", "tcp"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    up = wait_until(lambda: socket.exists() or proc.poll() is not None, timeout=15)
    if up and proc.poll() is None:
        return proc
    stop_process(proc)
    return None


@contextlib.contextmanager
def x_display(log: Path) -> Iterator[str]:
    """Yield an X display: $STDM_E2E_DISPLAY if set, else a private Xvfb we stop after."""
    given = os.environ.get(DISPLAY_ENV)
    if given:
        yield given
        return
    for number in DISPLAYS:
        if not display_is_free(number):
            continue
        proc = _start_xvfb(number, log)
        if proc is None:
            continue
        try:
            yield f":{number}"
        finally:
            stop_process(proc)
        return
    raise RuntimeError(f"no free X display in :{DISPLAYS[0]}..:{DISPLAYS[-1]}; see {log}")


def install_plugin(plugin_zip: Path, profiles: Path) -> Path:
    """Do what "Install from ZIP" does for a fresh default profile, and enable the plugin."""
    profile = profiles / "profiles" / "default"
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins)
    settings = profile / "QGIS" / "QGIS3.ini"
    settings.parent.mkdir(parents=True)
    settings.write_text(QGIS_SETTINGS.format(plugin=PLUGIN), encoding="utf-8")
    return plugins / PLUGIN


def system_python_first(env: dict[str, str]) -> dict[str, str]:
    """QGIS's embedded Python finds its prefix from the first python3 on PATH; a pyenv
    one there (as when build.py is started by it) leaves QGIS without its modules."""
    env["PATH"] = os.pathsep.join(("/usr/bin", env.get("PATH", "")))
    env.pop("PYTHONHOME", None)
    return env


def qgis_environment(
    display: str,
    result: Path,
    messages: Path,
    quit_delay_ms: int,
    scenario: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the desktop: a real X display, and the venv's packages first so
    QGIS's embedded Python finds shapely 2 rather than an older system copy. `scenario`
    adds the STDM_E2E_* settings of one startup-script scenario."""
    env = dict(os.environ)
    # The test session sets these (offscreen Qt; pytest-qgis's settings folder); the
    # desktop needs xcb and only the throwaway profile.
    for name in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH"):
        env.pop(name, None)
    env["DISPLAY"] = display
    system_python_first(env)
    venv_site = sysconfig.get_paths()["purelib"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (venv_site, env.get("PYTHONPATH")) if p)
    env["STDM_E2E_RESULT"] = str(result)
    env["STDM_E2E_MESSAGES"] = str(messages)
    env["PYQGIS_STARTUP"] = str(MESSAGE_HOOK)
    env["STDM_E2E_QUIT_DELAY_MS"] = str(quit_delay_ms)
    env.update(scenario or {})
    return env


def launch_qgis(
    qgis: str, profiles: Path, env: dict[str, str], log: Path, project: Path | None = None
) -> subprocess.Popen:
    """Start QGIS on the throwaway profile, opening `project` if given, and running the
    startup script once it is up."""
    cmd = [
        qgis,
        "--profiles-path",
        str(profiles),
        "--profile",
        "default",
        "--nologo",
        "--noversioncheck",
        *(("--project", str(project)) if project is not None else ()),
        "--code",
        str(STARTUP_SCRIPT),
    ]
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def screenshot(display: str, target: Path) -> None:
    """Grab the whole X screen with ImageMagick, as a person would see it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["import", "-window", "root", "-display", display, str(target)],
        check=True,
        timeout=30,
        capture_output=True,
    )


def run_desktop(
    qgis: str,
    profiles: Path,
    *,
    result: Path,
    messages: Path,
    log: Path,
    shot: Path,
    quit_delay_ms: int,
    result_timeout: float,
    exit_timeout: float,
    screenshot_after: float,
    project: Path | None = None,
    scenario: dict[str, str] | None = None,
) -> int | None:
    """Run QGIS until it has reported and quit; screenshot it in between, while the
    startup script shows what it set up (it waits quit_delay_ms after reporting).

    Stops early when a Python error is logged first: QGIS then usually waits behind
    a modal error dialog, which the screenshot shows. Returns QGIS's exit code, or
    None if it had to be killed.
    """
    with x_display(log) as display:
        env = qgis_environment(display, result, messages, quit_delay_ms, scenario)
        proc = launch_qgis(qgis, profiles, env, log, project)
        try:
            wait_until(
                lambda: (
                    result.exists() or proc.poll() is not None or errors_in(read_messages(messages))
                ),
                result_timeout,
            )
            time.sleep(screenshot_after)
            screenshot(display, shot)
            if not result.exists():
                return None
            if wait_until(lambda: proc.poll() is not None, exit_timeout):
                return proc.returncode
            return None
        finally:
            stop_process(proc)


def keep_artifacts(prefix: str, *paths: Path) -> None:
    """Copy QGIS's report, message log and output next to the screenshots for CI readers."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.exists():
            shutil.copyfile(path, ARTIFACTS / f"{prefix}{path.name}")


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log, for failure messages."""
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def read_messages(path: Path) -> list[dict[str, str]]:
    """QGIS message-log entries copied by qgis_message_hook.py (complete lines only)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    messages = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):  # a line being written
            messages.append(json.loads(line))
    return messages


def errors_in(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """What counts as an error: any Python error, and STDM warnings or worse."""
    return [
        m
        for m in messages
        if m["tag"] == ERROR_TAG
        or (m["tag"] == PLUGIN_TAG and m["level"] in ("WARNING", "CRITICAL"))
    ]


def describe_errors(messages: Path) -> str:
    """The errors in a copied message log, one block each, for an assertion message."""
    return "\n\n".join(
        f"[{m['tag']} {m['level']}]\n{m['text']}" for m in errors_in(read_messages(messages))
    )
