#!/usr/bin/env python3
"""One entry point for developers and CI: set up, lint, test, package, demo, bench.

It must start under any python3 >= 3.9 (for example a pyenv one first on PATH)
and so imports only the standard library. QGIS's Python bindings belong to
Debian's /usr/bin/python3, so the real work runs in .venv, a venv made from
that interpreter with --system-site-packages so it sees both QGIS and our pins.

Usage: build.py {setup|test|lint|package|demo|bench} [args passed through]
"""

from __future__ import annotations

import configparser
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
SYSTEM_PYTHON = "/usr/bin/python3"
REQUIREMENTS = ROOT / "requirements-dev.txt"
STAMP = VENV / ".stdm-requirements.sha256"
PACKAGE = "stdm_plugin"
SYSTEM_PROJ_DATA = Path("/usr/share/proj")

# python3-venv is not in the original list but Debian needs it for `-m venv`.
# PostgreSQL 15, PostGIS 3 and psycopg2 are for the PostGIS tests and benchmarks,
# which start a private server of their own (tests/postgis_server.py). Installing
# `postgresql` also creates Debian's "15/main" cluster on port 5432 (left stopped
# where policy-rc.d forbids starting services, as in containers); nothing uses it.
# python3-openpyxl writes the XLSForm export and reads XLSX submissions inside QGIS,
# whose Python is Debian's; python3-yaml reads the forms and the field mappings (QGIS
# pulls it in too, but the core needs it on its own).
APT_PACKAGES = (
    "qgis",
    "python3-qgis",
    "qgis-providers",
    "libsqlite3-mod-spatialite",
    "xvfb",
    "imagemagick",
    "python3-pyproj",
    "x11-utils",
    "python3-venv",
    "postgresql",
    "postgresql-15-postgis-3",
    "python3-psycopg2",
    "python3-openpyxl",
    "python3-yaml",
    "python3-cryptography",  # Ed25519 signatures of certificates
    "poppler-utils",  # tests and the demo read certificate PDFs back (pdftotext, pdftoppm)
    "zbar-tools",  # tests decode the QR codes printed on certificates
    "python3-fiona",  # cadastre exchange; Debian's, built on the same GDAL as QGIS
)
LINT_PATHS = ("stdm_plugin", "tests", "scripts", "benchmarks", "build.py")
# Repo-root files and folders that QGIS expects inside the plugin folder.
PLUGIN_EXTRAS = ("metadata.txt", "LICENSE", "forms", "resources")
SKIPPED_SUFFIXES = (".pyc", ".pyo")
# Zip entries get a fixed timestamp so that the same tree gives the same zip.
ZIP_TIMESTAMP = (2020, 1, 1, 0, 0, 0)
PYTEST_NO_TESTS = 5


class BuildError(Exception):
    """A problem the user can fix; reported as one line without a traceback."""


def log(message: str) -> None:
    """Print a progress line; flushed so it interleaves with child output in CI logs."""
    print(f"[build] {message}", flush=True)


def venv_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an activated .venv. Beyond `python3` in child scripts, this
    matters to QGIS started from them: its embedded Python takes its prefix from the
    first python3 on PATH, and a pyenv one there leaves it without the qgis module."""
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = os.pathsep.join((str(VENV / "bin"), env.get("PATH", "")))
    return env


def run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command from the repo root, echoing it so CI logs show what happened."""
    log("$ " + " ".join(cmd))
    return subprocess.call(cmd, cwd=ROOT, env=env)


# --------------------------------------------------------------------- setup


def missing_apt_packages() -> list[str]:
    """Ask dpkg which required Debian packages are not installed."""
    if shutil.which("dpkg-query") is None:
        raise BuildError("dpkg-query not found: setup supports Debian/Ubuntu only")
    missing = []
    for name in APT_PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or "install ok installed" not in result.stdout:
            missing.append(name)
    return missing


def ensure_apt_packages() -> None:
    """Install missing system packages, or say exactly how to when we are not root."""
    missing = missing_apt_packages()
    if not missing:
        log("system packages: all present")
        return
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise BuildError(
            "missing system packages; run:\n  sudo apt-get update && sudo " + " ".join(install)
        )
    log("installing system packages: " + " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], install):
        if run(cmd, env=env) != 0:
            raise BuildError(f"{' '.join(cmd)} failed")


def venv_config() -> dict[str, str]:
    """Read .venv/pyvenv.cfg, which says which interpreter the venv was made from."""
    config = {}
    for line in (VENV / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        config[key.strip()] = value.strip()
    return config


def ensure_venv() -> None:
    """Create .venv from Debian's python (the one QGIS is built for) if it is absent,
    and refuse one made otherwise: it could not import QGIS."""
    if VENV_PYTHON.exists():
        config = venv_config()
        home = config.get("home")
        system_site = config.get("include-system-site-packages")
        if home != str(Path(SYSTEM_PYTHON).parent) or system_site != "true":
            raise BuildError(
                f"{VENV} was not made by `{SYSTEM_PYTHON} -m venv --system-site-packages`"
                f" (home={home}, include-system-site-packages={system_site}); delete it"
                " and run setup again"
            )
        return
    log(f"creating {VENV.name} with {SYSTEM_PYTHON}")
    cmd = [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(VENV)]
    if run(cmd) != 0:
        raise BuildError("venv creation failed")


def link_proj_data() -> None:
    """Give the venv a share/proj link: pyproj looks for proj.db under sys.prefix, which
    in a venv is .venv, so without it pyproj cannot find the CRS database at all."""
    link = VENV / "share" / "proj"
    if link.exists() or link.is_symlink() or not SYSTEM_PROJ_DATA.is_dir():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(SYSTEM_PROJ_DATA)
    log(f"linked {link.relative_to(ROOT)} -> {SYSTEM_PROJ_DATA}")


def ensure_requirements() -> None:
    """pip install only when requirements changed since the last success (keeps reruns fast)."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        log("python packages: up to date")
        return
    log(f"installing python packages from {REQUIREMENTS.name}")
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    if run([*pip, "-r", str(REQUIREMENTS)]) != 0:
        raise BuildError("pip install failed")
    probe = "import qgis.core, shapely, pyproj; pyproj.CRS('EPSG:4326')"
    if run([str(VENV_PYTHON), "-c", probe]) != 0:
        raise BuildError(".venv cannot use qgis.core, shapely and pyproj together")
    STAMP.write_text(wanted + "\n")


def setup() -> None:
    """Bring the machine to a state where every other command can run."""
    ensure_apt_packages()
    ensure_venv()
    link_proj_data()
    ensure_requirements()


# ------------------------------------------------------------------- package


def read_version(metadata: Path) -> str:
    """Read [general] version= from metadata.txt, the one place the version lives."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(metadata, encoding="utf-8")
    version = parser.get("general", "version", fallback="").strip()
    if not version:
        raise BuildError(f"{metadata} has no [general] version=")
    return version


def iter_tree(folder: Path) -> list[Path]:
    """List shippable files under folder: no caches, bytecode or hidden files."""
    files = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p == "__pycache__" or p.startswith(".") for p in parts):
            continue
        if path.is_file() and path.suffix not in SKIPPED_SUFFIXES:
            files.append(path)
    return files


def plugin_files(root: Path) -> dict[str, Path]:
    """Map each zip entry name to its source file; refuse two sources for one name."""
    entries: dict[str, Path] = {}

    def add(arcname: str, source: Path) -> None:
        if arcname in entries:
            raise BuildError(f"{arcname} would come from both {entries[arcname]} and {source}")
        entries[arcname] = source

    package_dir = root / PACKAGE
    for path in iter_tree(package_dir):
        add(f"{PACKAGE}/{path.relative_to(package_dir).as_posix()}", path)
    for name in PLUGIN_EXTRAS:
        extra = root / name
        if extra.is_file():
            add(f"{PACKAGE}/{name}", extra)
        elif extra.is_dir():
            for path in iter_tree(extra):
                add(f"{PACKAGE}/{path.relative_to(root).as_posix()}", path)
    return entries


def build_package(root: Path = ROOT, dist: Path | None = None) -> Path:
    """Write dist/stdm_plugin-<version>.zip in the layout of QGIS's "Install from ZIP".

    Stdlib only and free of side effects beyond the zip, so tests can import it.
    """
    if not (root / PACKAGE / "__init__.py").is_file():
        raise BuildError(f"{root / PACKAGE} is not a python package")
    version = read_version(root / "metadata.txt")
    dist = dist if dist is not None else root / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / f"{PACKAGE}-{version}.zip"
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, source in sorted(plugin_files(root).items()):
            info = zipfile.ZipInfo(arcname, ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes())
    partial.replace(target)
    return target


# ------------------------------------------------------------------ commands


def venv_script(script: str, args: list[str]) -> int:
    """Run a repo script with the venv interpreter, failing clearly if it is not written yet."""
    if not (ROOT / script).is_file():
        raise BuildError(f"{script} does not exist yet")
    return run([str(VENV_PYTHON), script, *args], env=venv_environment())


def lint() -> int:
    """Run ruff over the paths that exist (some are added later in the project)."""
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    return run([str(VENV_PYTHON), "-m", "ruff", "check", *paths])


def test(args: list[str]) -> int:
    """Lint, then pytest; report both, and treat "no tests collected" as failure."""
    lint_code = lint()
    if lint_code != 0:
        log("ruff found problems; running the tests anyway")
    env = venv_environment({"QT_QPA_PLATFORM": "offscreen"})
    code = run([str(VENV_PYTHON), "-m", "pytest", *args], env=env)
    if code == PYTEST_NO_TESTS:
        log("FAILED: pytest collected no tests (exit 5); check the paths and -k/-m filters")
        return 1
    if code == 0 and lint_code != 0:
        log("FAILED: tests passed but ruff found problems")
        return lint_code
    return code


def package() -> int:
    """Build the plugin zip and print its path alone on a line, for scripts to pick up."""
    print(build_package(), flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Dispatch a subcommand; everything but `setup` runs after setup."""
    commands = {
        "setup": lambda _args: 0,
        "test": test,
        "lint": lambda _args: lint(),
        "package": lambda _args: package(),
        "demo": lambda args: venv_script("scripts/demo.py", args),
        "bench": lambda args: venv_script("benchmarks/run.py", args),
    }
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if not argv or argv[0] not in commands:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        setup()
        return commands[argv[0]](argv[1:])
    except BuildError as error:
        log(f"ERROR: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
