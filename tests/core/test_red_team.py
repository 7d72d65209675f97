"""Trust II (issue #14): attacks on the land register, each refused, each kept as a test.

Every test here performs one attack the way a hostile user would, with the
core API on a copy of the demo store (adjudicated blocks, certificates
possible), and checks that it is refused with a clear message and leaves
nothing behind. TESTING.md lists the attacks, what each gets now, and the
test that shows it.
"""
from __future__ import annotations

import pathlib
import shutil

import pytest

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.adjudication import adjudicate_blocks, sign_in_as
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.apply import merge_package
from stdm_plugin.core.packages.field_package import PackageRequest, cut_package
from stdm_plugin.core.store.errors import FieldPackageError
from stdm_plugin.core.store.publish import copy_store

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"
#: blocks the demo office takes through adjudication (one objection stays open in B1A)
ADJUDICATED = ("B1A", "B2A")


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> pathlib.Path:
    """The demo store with two blocks adjudicated, made once for the module."""
    path = tmp_path_factory.mktemp("red_team") / "demo.sqlite"
    with SettlementStore.create(path, 32630, actor="red-team") as store:
        load_demo_settlement(store, DEMO)
        adjudicate_blocks(store, ADJUDICATED)
    return path


@pytest.fixture
def demo(demo_template, backend_name, tmp_path, request):
    """A copy of the adjudicated demo store on the backend under test."""
    if backend_name == "spatialite":
        path = tmp_path / "demo.sqlite"
        shutil.copyfile(demo_template, path)
        store = SettlementStore.open(path, actor="red-team")
    else:
        server = request.getfixturevalue("postgis_server")
        connection = {"host": server.host, "port": server.port, "user": server.user,
                      "dbname": server.dbname}
        store = SettlementStore.create_postgis(connection, server.fresh_schema(), 32630,
                                               actor="red-team")
        with SettlementStore.open(demo_template, read_only=True) as source:
            copy_store(source, store)
    yield store
    store.close()


def blocks_of(store) -> list[str]:
    return [r["block"] for r in store.db.query(
        "SELECT DISTINCT block FROM spatial_unit WHERE block IS NOT NULL AND kind = 'parcel' "
        "ORDER BY block")]


# --- 10. a cut of an adjudicated block ----------------------------------------------------
def test_an_adjudicated_block_is_cut_and_merged_back_on_both_backends(demo, tmp_path):
    sign_in_as(demo, "supervisor")
    folder = tmp_path / "b1a"
    manifest = cut_package(demo, folder, PackageRequest(team="Equipe A", blocks=["B1A"]))
    assert manifest.counts["social_tenure"] > 0
    report = merge_package(demo, str(folder))
    assert report.nothing_changed and report.unchanged > 0


def test_every_block_of_the_demo_store_is_cut_and_merged_back(demo_template, tmp_path):
    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    with SettlementStore.open(path, actor="red-team") as store:
        sign_in_as(store, "supervisor")
        blocks = blocks_of(store)
        assert len(blocks) == 40 and set(ADJUDICATED) <= set(blocks)
        for block in blocks:
            folder = tmp_path / f"package-{block}"
            cut_package(store, folder, PackageRequest(team=f"Equipe {block}", blocks=[block]))
            report = merge_package(store, str(folder))
            assert report.nothing_changed, (block, report.counts)


def test_a_cut_that_would_leave_a_reference_dangling_names_the_record(demo_template, tmp_path,
                                                                       monkeypatch):
    from stdm_plugin.core.packages import field_package

    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    monkeypatch.setattr(field_package, "REFERENCED_TABLES", ("submission",))
    with SettlementStore.open(path, actor="red-team") as store:
        sign_in_as(store, "supervisor")
        with pytest.raises(FieldPackageError) as refused:
            cut_package(store, tmp_path / "b1a", PackageRequest(team="A", blocks=["B1A"]))
    text = str(refused.value)
    assert "social_tenure" in text and "public_display" in text and "public_display_id" in text
    assert "Nothing was written" in text
    assert not (tmp_path / "b1a").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("b1a")]
