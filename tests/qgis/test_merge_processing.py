"""stdm:mergefieldpackage through the Processing API, as a model or qgis_process runs it.

The store is the demo settlement with a package of block B1A returned from
the field (merge_samples.py): one conflict (the same person renamed in the
field and at the office) and one claim deleted in the field.
"""
from __future__ import annotations

import csv
import sys

import pytest
from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsProcessingException,
    QgsProcessingFeedback,
)

from stdm_plugin.core.store.users import sign_in, sign_out
from stdm_plugin.plugin import StdmPlugin
from tests.qgis.merge_samples import LONG_NAME, OFFICE_NAME, cut, demo_store, returned_package

QGIS_PYTHON_PLUGINS = "/usr/share/qgis/python/plugins"
#: the master password of the test profile's authentication database
MASTER_PASSWORD = "stdm-tests"


@pytest.fixture(scope="module")
def processing(qgis_app):
    """Processing initialised as in QGIS, with the provider registered as qgis_process does."""
    if QGIS_PYTHON_PLUGINS not in sys.path:
        sys.path.append(QGIS_PYTHON_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing as runner

    plugin = StdmPlugin(None)
    plugin.initProcessing()
    yield runner
    QgsApplication.processingRegistry().removeProvider(plugin.processing_provider)
    plugin.processing_provider = None


@pytest.fixture
def returned(tmp_path):
    store = demo_store(tmp_path / "koumassi.sqlite")
    store.info = returned_package(store, tmp_path / "equipe_a")
    yield store
    store.close()


@pytest.fixture
def auth_configs():
    """Makes authentication configurations (Basic) in the test profile; removes them after."""
    manager = QgsApplication.authManager()
    if not manager.setMasterPassword(MASTER_PASSWORD, True):
        pytest.skip("the test profile's authentication database has another master password")
    made = []

    def make(login: str, password: str) -> str:
        config = QgsAuthMethodConfig()
        config.setMethod("Basic")
        config.setName(f"stdm {login}")
        config.setConfig("username", login)
        config.setConfig("password", password)
        stored = manager.storeAuthenticationConfig(config)
        ok, config = stored if isinstance(stored, tuple) else (stored, config)
        assert ok
        made.append(config.id())
        return config.id()

    yield make
    for authcfg in made:
        manager.removeAuthenticationConfig(authcfg)


def refused(runner, parameters: dict) -> str:
    with pytest.raises(QgsProcessingException) as caught:
        runner.run("stdm:mergefieldpackage", parameters)
    return str(caught.value)


def merges(store) -> int:
    return store.db.scalar("SELECT count(*) FROM package_merge")


def test_the_policy_resolves_the_conflict_and_the_report_is_written(processing, returned,
                                                                    tmp_path):
    store, info = returned, returned.info
    parameters = {"STORE": store.path, "PACKAGE": info["folder"]}
    message = refused(processing, parameters)  # ask: the conflict needs a decision
    assert "1 conflicts have no resolution" in message and "Nothing was merged" in message
    assert merges(store) == 0 and store.parties.get(info["person"]).first_name == OFFICE_NAME

    progress = []
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(progress.append)
    report = tmp_path / "merge.csv"
    result = processing.run("stdm:mergefieldpackage", {
        **parameters, "POLICY": "theirs", "OUTPUT": str(report)}, feedback=feedback)
    assert (result["ADDED"], result["CHANGED"], result["DELETED"], result["CONFLICTS"]) == (
        0, 1, 1, 1)
    assert result["MERGE_ID"] and result["OUTPUT"] == str(report)
    assert progress and progress[-1] == pytest.approx(100)
    assert store.parties.get(info["person"]).first_name == LONG_NAME
    assert store.db.scalar("SELECT end_lifespan_version FROM social_tenure WHERE id = ?",
                           (info["claim"],)) is not None
    with open(report, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["section"], r["table"], r["action"], r["record"]) for r in rows
            if r["section"] == "conflict"] == [
        ("conflict", "party", "theirs", f"{LONG_NAME} {info['last_name']}")]

    again = processing.run("stdm:mergefieldpackage", {**parameters, "POLICY": "theirs"})
    assert again["MERGE_ID"] == "" and again["CHANGED"] == again["CONFLICTS"] == 0
    assert merges(store) == 1


def test_a_package_of_another_store_is_refused(processing, returned, tmp_path):
    other = demo_store(tmp_path / "other.sqlite")
    try:
        folder = cut(other, tmp_path / "foreign")
    finally:
        other.close()
    message = refused(processing, {"STORE": returned.path, "PACKAGE": folder,
                                   "POLICY": "mine"})
    assert "was cut from another store" in message and "nothing was merged" in message
    assert merges(returned) == 0


def test_a_store_with_users_needs_someone_who_may_merge(processing, returned, auth_configs):
    store, info = returned, returned.info
    store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
    sign_in(store, "admin", "s3cret")
    store.users.create("enum", "Eric Enumerator", "enumerator", password="e")
    store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup")
    sign_out(store)
    parameters = {"STORE": store.path, "PACKAGE": info["folder"], "POLICY": "mine"}
    message = refused(processing, parameters)
    assert "Sign in to merge field package" in message and "(AUTH)" in message
    message = refused(processing, {**parameters, "AUTH": auth_configs("enum", "e")})
    assert "Eric Enumerator (enumerator) may not merge field package" in message
    message = refused(processing, {**parameters, "AUTH": auth_configs("sup", "wrong")})
    assert "Unknown user or wrong password for 'sup'" in message
    assert "could not be read" in refused(processing, {**parameters, "AUTH": "nosuch1"})
    assert merges(store) == 0
    result = processing.run("stdm:mergefieldpackage", {**parameters,
                                                       "AUTH": auth_configs("sup", "sup")})
    assert result["CONFLICTS"] == 1 and result["MERGE_ID"]
    assert store.db.scalar("SELECT merged_by FROM package_merge") == "sup"
    assert store.parties.get(info["person"]).first_name == OFFICE_NAME  # mine
