"""The PostGIS test server itself: if these fail, PostGIS-backed store tests mean nothing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from .postgis_server import (
    PostgisServer,
    PostgisUnavailableError,
    running_postgis,
    unavailable_reason,
)

# 10 m by 5 m in UTM 30N (EPSG:32630), near Abidjan.
SQUARE_50_M2 = "POLYGON((400000 590000,400010 590000,400010 590005,400000 590005,400000 590000))"


def _accepts(address: str, port: int) -> bool:
    """Whether a TCP connection to address:port is accepted."""
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def _outbound_address() -> str | None:
    """This machine's address on its default route, if it has one (UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        return probe.getsockname()[0]


def _setting(server: PostgisServer, name: str) -> str:
    """One server setting, read over a fresh connection."""
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting(%s)", (name,))
            return cursor.fetchone()[0]
    finally:
        connection.close()


def _pid_alive(pid: int) -> bool:
    """Whether a process exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_postgis_works_in_the_test_database(postgis_server: PostgisServer) -> None:
    connection = postgis_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), postgis_version()")
            database, version = cursor.fetchone()
            cursor.execute("SELECT ST_Area(ST_GeomFromText(%s, 32630))", (SQUARE_50_M2,))
            area = cursor.fetchone()[0]
    finally:
        connection.close()
    assert database == "stdm_test"
    assert version.startswith("3.")
    assert area == pytest.approx(50.0)


def test_server_listens_on_127_0_0_1_only(postgis_server: PostgisServer) -> None:
    port = postgis_server.port
    assert _setting(postgis_server, "listen_addresses") == "127.0.0.1"
    assert _accepts("127.0.0.1", port)
    assert not _accepts("127.0.0.2", port)
    assert not _accepts("::1", port)
    outbound = _outbound_address()
    if outbound is not None:
        assert not _accepts(outbound, port)


def test_server_is_ours_not_the_system_cluster(postgis_server: PostgisServer) -> None:
    base = postgis_server.base_dir
    assert postgis_server.port != 5432
    assert Path(_setting(postgis_server, "data_directory")) == base / "data"
    assert Path(_setting(postgis_server, "unix_socket_directories")) == base / "socket"
    assert _setting(postgis_server, "fsync") == "off"
    assert _setting(postgis_server, "server_encoding") == "UTF8"


def test_fresh_schemas_are_distinct_and_can_be_dropped(postgis_server: PostgisServer) -> None:
    first = postgis_server.fresh_schema()
    second = postgis_server.fresh_schema("store")
    assert first != second
    assert second.startswith("store_")
    query = "SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)"
    connection = postgis_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, (first, second))
            assert cursor.fetchone()[0] == 2
            connection.rollback()
            postgis_server.drop_schema(first)
            postgis_server.drop_schema(first)  # already gone: no error
            cursor.execute(query, (first, second))
            assert cursor.fetchone()[0] == 1
    finally:
        connection.close()
        postgis_server.drop_schema(second)


def test_schema_prefix_must_be_a_plain_identifier(postgis_server: PostgisServer) -> None:
    with pytest.raises(ValueError, match="prefix"):
        postgis_server.fresh_schema('x"; DROP DATABASE stdm_test; --')


def test_a_second_connection_sees_committed_data_only(postgis_server: PostgisServer) -> None:
    schema = postgis_server.fresh_schema()
    writer = postgis_server.connect()
    reader = postgis_server.connect()
    try:
        with writer.cursor() as cursor:
            cursor.execute(f'CREATE TABLE "{schema}".parcel (code text, boundary geometry)')
            cursor.execute(
                f'INSERT INTO "{schema}".parcel VALUES (%s, ST_GeomFromText(%s, 32630))',
                ("KOU-P00001", SQUARE_50_M2),
            )
        writer.commit()
        with writer.cursor() as cursor:
            cursor.execute(f"INSERT INTO \"{schema}\".parcel VALUES ('KOU-P00002', NULL)")
        with reader.cursor() as cursor:
            cursor.execute(f'SELECT code, ST_Area(boundary) FROM "{schema}".parcel')
            assert cursor.fetchall() == [("KOU-P00001", pytest.approx(50.0))]
    finally:
        writer.close()
        reader.close()
        postgis_server.drop_schema(schema)


def test_nothing_is_left_behind_when_the_block_fails() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="test failed"):
        with running_postgis() as server:
            pid_file = server.base_dir / "data" / "postmaster.pid"
            pid = int(pid_file.read_text().split()[0])
            assert _pid_alive(pid)
            raise RuntimeError("test failed")
    assert not _pid_alive(pid)
    assert not server.base_dir.exists()


def test_missing_postgresql_is_named_with_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STDM_PG_BINDIR", str(tmp_path))
    reason = unavailable_reason()
    assert reason is not None
    assert "PostgreSQL 15" in reason and "postgresql-15" in reason
    with pytest.raises(PostgisUnavailableError, match="initdb"):
        with running_postgis():
            pass
