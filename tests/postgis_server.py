"""A throwaway PostgreSQL 15 + PostGIS 3 server for tests and benchmarks.

Why a server of our own rather than Debian's "15/main" cluster: that one may or
may not be running (in containers apt is not allowed to start it), holds data
we must not touch and wants passwords. Ours lives in a temporary folder, is
reached only over 127.0.0.1 on a free port, trusts every local connection, is
tuned for speed over durability (the data is thrown away) and is gone after.

Usable without pytest, for example from benchmarks/run.py:

    from tests.postgis_server import running_postgis

    with running_postgis() as server:
        connection = server.connect()

`running_postgis` raises `PostgisUnavailableError` when PostgreSQL 15, PostGIS or
psycopg2 is not installed (pytest turns that into a skip) and
`PostgisServerError`, with the end of the server log, when the server fails.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg2.extensions import connection as Connection  # noqa: N812

PG_MAJOR = 15
DEFAULT_BINDIR = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
# Lets a developer point at a PostgreSQL 15 built or installed elsewhere.
BINDIR_VARIABLE = "STDM_PG_BINDIR"
REQUIRED_PROGRAMS = ("initdb", "postgres", "pg_ctl", "pg_isready", "pg_config")
# postgres refuses to run as root; as root we run it as Debian's own account.
SERVER_ACCOUNT_WHEN_ROOT = "postgres"
HOST = "127.0.0.1"
ROLE = "postgres"
DATABASE = "stdm_test"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 120.0
READY_POLL_INTERVAL = 0.05
# Another process may take the port between our probe and the server's bind.
PORT_ATTEMPTS = 3
# The kernel limits a unix socket path to 107 bytes; postgres adds "/.s.PGSQL.NNNNN".
SOCKET_PATH_LIMIT = 107
SOCKET_FILE_LENGTH = len("/.s.PGSQL.65535")
LOG_TAIL_LINES = 40
SCHEMA_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,30}")
# The server tunes durability away: its data lives only as long as the test run.
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}
PORT_TAKEN_MESSAGES = ("Address already in use", "could not create any TCP/IP sockets")


class PostgisUnavailableError(RuntimeError):
    """PostgreSQL 15, PostGIS or psycopg2 is not installed: the only reason to skip."""


class PostgisServerError(RuntimeError):
    """The software is there but the server did not come up or misbehaved: a real failure."""


# --------------------------------------------------------- what is installed


def find_bindir() -> Path:
    """Where the PostgreSQL 15 programs are; $STDM_PG_BINDIR wins over Debian's place."""
    override = os.environ.get(BINDIR_VARIABLE)
    return Path(override) if override else DEFAULT_BINDIR


def _missing_programs(bindir: Path) -> list[str]:
    """The server programs we call that are absent or not executable."""
    return [name for name in REQUIRED_PROGRAMS if not os.access(bindir / name, os.X_OK)]


def _extension_dir(bindir: Path) -> Path:
    """Ask pg_config where this PostgreSQL looks for extensions such as postgis."""
    result = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"],
        capture_output=True,
        text=True,
        check=True,
        env=_child_environment(),
        timeout=COMMAND_TIMEOUT,
    )
    return Path(result.stdout.strip()) / "extension"


def _psycopg2_importable() -> bool:
    """Whether the driver tests connect with is installed (Debian's python3-psycopg2)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return False
    return True


def _server_account_missing() -> bool:
    """As root we need the postgres account; Debian's postgresql-common creates it."""
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
    except KeyError:
        return True
    return False


def _missing_server(bindir: Path) -> str | None:
    """What is missing of PostgreSQL 15 and PostGIS, with the package to install."""
    absent = _missing_programs(bindir)
    if absent:
        return (
            f"PostgreSQL {PG_MAJOR} ({', '.join(absent)} not in {bindir};"
            f" Debian package postgresql-{PG_MAJOR})"
        )
    extensions = _extension_dir(bindir)
    if not (extensions / "postgis.control").is_file():
        return (
            f"PostGIS for PostgreSQL {PG_MAJOR} (no postgis.control in {extensions};"
            f" Debian package postgresql-{PG_MAJOR}-postgis-3)"
        )
    return None


def missing_software() -> list[str]:
    """Name each missing piece with the Debian package that provides it."""
    missing = []
    server = _missing_server(find_bindir())
    if server is not None:
        missing.append(server)
    if _server_account_missing():
        missing.append(
            f"the '{SERVER_ACCOUNT_WHEN_ROOT}' system account to run the server as"
            " (Debian package postgresql-common)"
        )
    if not _psycopg2_importable():
        missing.append("the psycopg2 driver (Debian package python3-psycopg2)")
    return missing


def unavailable_reason() -> str | None:
    """One sentence for a skip message, or None when everything needed is installed."""
    missing = missing_software()
    if not missing:
        return None
    return (
        "PostGIS test server unavailable, missing: "
        + "; ".join(missing)
        + ". `python3 build.py setup` as root installs them."
    )


# ------------------------------------------------------- running processes


def _child_environment() -> dict[str, str]:
    """Our environment minus libpq's PG* variables, which could send a program to
    another server or database (for example PGPORT=5432, the system cluster)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: postgres when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)


def _as_account(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that drop root to the server account, groups included,
    so nothing the server writes or runs is owned by or done as root."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _run(command: list[str], account: pwd.struct_passwd | None, cwd: Path) -> None:
    """Run a server tool as the server account; fail with its output, which says why."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=_child_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        **_as_account(account),
    )
    if result.returncode != 0:
        raise PostgisServerError(
            f"{' '.join(command)} exited with {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )


def _free_port() -> int:
    """A TCP port nobody listens on now; the kernel picks it, never 5432."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The end of a log file, for error messages; empty when there is none yet."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------ the temp dir


def _enterable_by_others(folder: Path) -> bool:
    """Whether another account can reach folder: every ancestor must be searchable."""
    for part in (folder, *folder.parents):
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _temp_root(account: pwd.struct_passwd | None) -> Path:
    """The system temp dir unless the server account cannot reach it or the socket
    path inside would be too long for the kernel; /tmp then."""
    root = Path(tempfile.gettempdir()).resolve()
    longest = len(str(root)) + len("/stdm-pg-xxxxxxxx/socket") + SOCKET_FILE_LENGTH
    if longest > SOCKET_PATH_LIMIT or (account is not None and not _enterable_by_others(root)):
        return Path("/tmp")
    return root


def _make_base_dir(account: pwd.struct_passwd | None) -> Path:
    """A private folder for the data, socket and log, owned by the server account."""
    base = Path(tempfile.mkdtemp(prefix="stdm-pg-", dir=_temp_root(account)))
    (base / "socket").mkdir()
    if account is not None:
        for path in (base, base / "socket"):
            os.chown(path, account.pw_uid, account.pw_gid)
    return base


def _initdb_locale() -> str:
    """C.UTF-8 when the system has it, so upper()/lower() know accented letters
    (names such as "Koné"); plain C otherwise. Both sort by code point."""
    try:
        listed = subprocess.run(
            ["locale", "-a"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "C"
    return "C.UTF-8" if {"C.utf8", "C.UTF-8"} & set(listed) else "C"


def _initdb(bindir: Path, base: Path, account: pwd.struct_passwd | None) -> None:
    """Create the cluster: trust authentication, UTF8, the `postgres` superuser role."""
    command = [
        str(bindir / "initdb"),
        "--pgdata",
        str(base / "data"),
        "--username",
        ROLE,
        "--auth=trust",
        "--encoding=UTF8",
        f"--locale={_initdb_locale()}",
        "--no-sync",
        "--no-instructions",
    ]
    _run(command, account, cwd=base)


# -------------------------------------------------------------- the server


class _Postmaster:
    """The postgres process we started, and what it takes to be sure it stops.

    postgres runs as our direct child (not daemonised by `pg_ctl start`) so
    that we hold its handle: if the polite `pg_ctl stop` does not work, we can
    still kill and reap it.
    """

    def __init__(self, bindir: Path, base: Path, account: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.base = base
        self.account = account
        self.port = 0
        self.log_path = base / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        """postgres with our settings on its command line, visible in `ps`."""
        settings = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.base / "socket"),
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.base / "data")]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        return command

    def start(self, port: int) -> None:
        """Launch postgres on port, its output in server.log (only this attempt's,
        so that an error message shows why this attempt failed)."""
        self.port = port
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self._command(),
                cwd=self.base,
                env=_child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **_as_account(self.account),
            )

    def exited(self) -> bool:
        """Whether postgres has stopped (or never started)."""
        return self._process is None or self._process.poll() is not None

    def _accepting(self) -> bool:
        """Ask pg_isready, over TCP like the tests, whether connections are accepted."""
        command = [
            str(self.bindir / "pg_isready"),
            f"--host={HOST}",
            f"--port={self.port}",
            f"--username={ROLE}",
            "--dbname=postgres",
            "--timeout=1",
        ]
        result = subprocess.run(
            command, env=_child_environment(), capture_output=True, check=False,
            timeout=COMMAND_TIMEOUT,
        )
        return result.returncode == 0

    def wait_until_ready(self, timeout: float) -> bool:
        """True once connections are accepted; False if postgres exited first.
        Raises after timeout, with the log, since a hung server is a real failure."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                return False
            if self._accepting():
                return True
            time.sleep(READY_POLL_INTERVAL)
        raise PostgisServerError(
            f"postgres on {HOST}:{self.port} not ready after {timeout:.0f}s;"
            f" end of {self.log_path}:\n{_tail(self.log_path)}"
        )

    def lost_port_race(self) -> bool:
        """Whether postgres exited because another process took the port first."""
        log = _tail(self.log_path)
        return any(message in log for message in PORT_TAKEN_MESSAGES)

    def stop(self) -> None:
        """`pg_ctl stop -m fast` (rolls back sessions, exits in well under a second),
        then kill if that did not work. Safe to call again or if never started."""
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(PostgisServerError, subprocess.TimeoutExpired):
                self._pg_ctl_stop()
        try:
            self._process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _pg_ctl_stop(self) -> None:
        """The documented way to stop a server: it waits until postgres has exited."""
        command = [
            str(self.bindir / "pg_ctl"),
            "stop",
            "--pgdata",
            str(self.base / "data"),
            "--mode=fast",
            "--wait",
            f"--timeout={STOP_TIMEOUT:.0f}",
        ]
        _run(command, self.account, cwd=self.base)


def _start_postmaster(postmaster: _Postmaster, timeout: float) -> None:
    """Start on a free port, trying another if one is taken under us; any other early
    exit is a failure reported with the server log."""
    for _attempt in range(PORT_ATTEMPTS):
        postmaster.start(_free_port())
        if postmaster.wait_until_ready(timeout):
            return
        if not postmaster.lost_port_race():
            break
    raise PostgisServerError(
        f"postgres exited during startup; end of {postmaster.log_path}:\n"
        f"{_tail(postmaster.log_path)}"
    )


# ------------------------------------------------------------ what tests get


@dataclass(frozen=True)
class PostgisServer:
    """Where the test server is, and helpers to reach it. `user` is the superuser
    role; every role and database here is disposable."""

    host: str
    port: int
    user: str
    dbname: str
    base_dir: Path
    startup_seconds: float = 0.0

    def dsn(self, dbname: str | None = None) -> str:
        """libpq keyword/value string, for psycopg2 and QGIS's postgres provider alike.
        Every parameter is explicit so PG* environment variables cannot redirect it."""
        return (
            f"host={self.host} port={self.port} user={self.user}"
            f" dbname={dbname or self.dbname} sslmode=disable connect_timeout=10"
        )

    def connect(self, dbname: str | None = None, **kwargs: Any) -> Connection:
        """A new psycopg2 connection; the caller closes it."""
        import psycopg2

        return psycopg2.connect(self.dsn(dbname), **kwargs)

    def fresh_schema(self, prefix: str = "test") -> str:
        """Create a schema no other test uses, so each test gets its own store in the
        one database; the random suffix keeps reruns and parallel runs apart."""
        from psycopg2 import sql

        if not SCHEMA_PREFIX.fullmatch(prefix):
            raise ValueError(f"schema prefix {prefix!r}: lower case letters, digits, _")
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        _execute(self, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def drop_schema(self, name: str) -> None:
        """Drop a schema and all in it; no error if it is already gone."""
        from psycopg2 import sql

        _execute(self, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))

    @property
    def log_path(self) -> Path:
        """The server's log, worth reading when a test sees a server-side error."""
        return self.base_dir / "server.log"


def _execute(server: PostgisServer, statement: Any, dbname: str | None = None) -> None:
    """Run one statement in its own committed transaction on a short-lived connection."""
    with contextlib.closing(server.connect(dbname)) as connection, connection:
        with connection.cursor() as cursor:
            cursor.execute(statement)


def _create_database(server: PostgisServer) -> None:
    """CREATE DATABASE, then the postgis extension inside it."""
    from psycopg2 import sql

    maintenance = server.connect("postgres")
    try:
        maintenance.autocommit = True  # CREATE DATABASE refuses to run in a transaction
        with maintenance.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server.dbname)))
    finally:
        maintenance.close()
    _execute(server, "CREATE EXTENSION postgis")


class _Cleanup:
    """Stop the server and delete its folder, once. Called from `finally` and, in case
    the interpreter exits without unwinding (os._exit aside), from atexit."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.postmaster: _Postmaster | None = None

    def __call__(self) -> None:
        try:
            if self.postmaster is not None:
                self.postmaster.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def running_postgis(
    dbname: str = DATABASE, timeout: float = START_TIMEOUT
) -> Iterator[PostgisServer]:
    """Start a private PostgreSQL 15 with PostGIS, yield where it is, stop and delete it.

    Raises PostgisUnavailableError if the software is missing, PostgisServerError if it
    does not work. Nothing is left running or on disk afterwards, whatever happens
    inside the block.
    """
    reason = unavailable_reason()
    if reason is not None:
        raise PostgisUnavailableError(reason)
    started = time.monotonic()
    bindir = find_bindir()
    account = _server_account()
    cleanup = _Cleanup(_make_base_dir(account))
    atexit.register(cleanup)
    try:
        _initdb(bindir, cleanup.base, account)
        cleanup.postmaster = _Postmaster(bindir, cleanup.base, account)
        _start_postmaster(cleanup.postmaster, timeout)
        server = PostgisServer(HOST, cleanup.postmaster.port, ROLE, dbname, cleanup.base)
        _create_database(server)
        yield replace(server, startup_seconds=time.monotonic() - started)
    finally:
        atexit.unregister(cleanup)
        cleanup()
