"""Fixtures shared by the whole suite; tests/core and tests/qgis add their own.

postgis_server is session-scoped because a server costs about a second to
create: tests share it and keep apart by each taking a fresh schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .postgis_server import PostgisServer, running_postgis, unavailable_reason

# Where the fixture leaves a line for the summary: CI logs then show what the
# server cost, without anyone having to time it by hand.
POSTGIS_STARTUP = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def postgis_server(pytestconfig: pytest.Config) -> Iterator[PostgisServer]:
    """A private PostgreSQL 15 + PostGIS 3 server on 127.0.0.1 with database stdm_test.

    Skipped, with what to install, only when PostgreSQL, PostGIS or psycopg2 is
    missing; a server that is installed but fails to start is an error, not a skip.
    """
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_postgis() as server:
        pytestconfig.stash[POSTGIS_STARTUP] = (
            f"PostGIS test server: ready in {server.startup_seconds:.2f}s"
            f" on {server.host}:{server.port} ({server.base_dir})"
        )
        yield server


@pytest.fixture(scope="session", autouse=True)
def backup_keyring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The folder of backup keys for the whole run (STDM_KEYRING), so that no test writes
    keys into the home directory or QGIS's settings folder."""
    folder = str(tmp_path_factory.mktemp("keyring"))
    before = os.environ.get("STDM_KEYRING")
    os.environ["STDM_KEYRING"] = folder
    yield folder
    if before is None:
        os.environ.pop("STDM_KEYRING", None)
    else:
        os.environ["STDM_KEYRING"] = before


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Report the server's startup time, if one was started."""
    line = config.stash.get(POSTGIS_STARTUP, None)
    if line is not None:
        terminalreporter.write_line(line)
