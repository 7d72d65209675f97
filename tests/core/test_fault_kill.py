"""Fault test: a worker process is SIGKILLed at seeded random moments while it writes.

Land records are evidence, so a crash (power cut, QGIS killed) must never
leave a damaged store or half an operation. Four operations are killed:
an all-or-nothing import of a synthetic ODK export of our own form, a series
of enumerations saved one household per transaction, a copy of a store
into a new store, and a batch of certificates issued one per transaction
(with a stand-in for the PDF layout: the worker has no QGIS). After every
kill the store must open, pass an integrity check (``PRAGMA integrity_check``
on SpatiaLite, amcheck on PostGIS) and the plugin's consistency check, and
hold all or none of each operation. On PostGIS the killed client's session
must also end with no transaction and no lock left behind. The test runs on
both backends (fault_stores.py holds what differs); the figures are printed
(run with ``-s``) and recorded in TESTING.md.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import fault_worker  # tests/core is on sys.path (no __init__.py), as for concurrent_worker
import pytest
from fault_stores import FileStores, PostgisStores

from stdm_plugin.core import Settlement, SettlementStore
from stdm_plugin.core.demo.adjudication import adjudicate_blocks
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.safety.consistency import check_store
from stdm_plugin.core.store.errors import NotAStoreError
from stdm_plugin.core.store.store import INFO_TABLE

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKER = pathlib.Path(fault_worker.__file__)
SEED = int(os.environ.get("STDM_FAULT_SEED", "20261125"))  # another seed: other moments
#: kills per operation on PostGIS; every run there costs a store made in a new schema
POSTGIS_KILLS = int(os.environ.get("STDM_FAULT_POSTGIS_KILLS", "5"))
OPERATIONS = ("import", "enumerate", "copy", "merge", "certify")
KILLS = {"spatialite": {"import": 12, "enumerate": 8, "copy": 8, "merge": 12,  # 50
                        "certify": 10},
         "postgis": dict.fromkeys(OPERATIONS, POSTGIS_KILLS)}  # 20 unless told
CERTIFIED_BLOCKS = ("B1A", "B1B", "B1C", "B1D", "B1E", "B2A")
SUBMISSIONS = 600  # two write batches of the importer, about 1 s with start-up
ENUMERATIONS = 40
COUNTED = ("submission", "settlement", "party", "spatial_unit", "social_tenure",
           "supporting_document", "audit_log")


@dataclass
class Run:
    """What the worker said before it died, and when it was killed."""
    lines: list[str]
    seconds: float  # from "started" to the kill (or to the end)
    killed: bool

    @property
    def in_transaction(self) -> bool:
        """The last outermost transaction was begun and its COMMIT had not returned."""
        markers = [line for line in self.lines if line in ("begin", "commit")]
        return bool(markers) and markers[-1] == "begin"

    @property
    def reported(self) -> set[str]:
        return {line.split()[1] for line in self.lines if line.startswith("household ")}


@dataclass
class Tally:
    wanted: dict[str, int]
    kills: Counter = field(default_factory=Counter)
    mid_transaction: Counter = field(default_factory=Counter)
    states: Counter = field(default_factory=Counter)
    corruptions: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)  # PostGIS: transactions, locks
    settle_seconds: float = 0.0  # PostGIS: the longest wait for a dead client's session
    idle_sessions: int = 0  # PostGIS: sessions still connected after the wait


def run_worker(args: list[str], delay: float | None) -> Run:
    """Start the worker; ``delay`` seconds after it says ``started``, SIGKILL it."""
    process = subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    first = process.stdout.readline().strip()  # blocks until the store is open
    assert first == "started", first + process.stderr.read()
    started = time.perf_counter()
    killed = False
    if delay is None:
        process.wait(timeout=120)
    else:
        time.sleep(delay)
        killed = process.poll() is None
        if killed:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    seconds = time.perf_counter() - started
    lines = [line.strip() for line in process.stdout.read().splitlines()]
    errors = process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    if not killed:
        assert process.returncode == 0 and lines[-1:] == ["done"], errors
    return Run(lines, seconds, killed)


def attempts(operation: str, tally: Tally):
    """Run numbers until enough kills landed; a worker that finished first is still checked."""
    n = 0
    wanted = tally.wanted[operation]
    while tally.kills[operation] < wanted and n < 3 * wanted:
        yield n
        n += 1


def killed(stores, spec: str, args: list[str], window: float, rng: random.Random,
           operation: str, n: int, tally: Tally) -> Run:
    """Run the worker on ``spec`` and kill it; count the kill and wait for the server
    (PostGIS) to end the dead client's session, noting anything it left behind."""
    run = run_worker(args, delay(rng, window))
    tally.kills[operation] += run.killed
    tally.mid_transaction[operation] += run.in_transaction
    settled = stores.settle(spec)
    tally.settle_seconds = max(tally.settle_seconds, settled.seconds)
    tally.idle_sessions += settled.idle_sessions
    tally.left_behind += [f"{operation} kill {n}: {p}" for p in settled.problems]
    return run


def narrowed(window: float, run: Run) -> float:
    """A worker that finished before its kill was quicker than the timed run (on a busy
    machine the timed run can take three times as long): aim within its time next."""
    return window if run.killed else min(window, run.seconds)


def delay(rng: random.Random, window: float) -> float:
    """A moment inside the operation as timed on an unkilled run (kept a little short)."""
    return rng.uniform(0, 0.95 * window)


def counts(store: SettlementStore) -> dict[str, int]:
    return {table: store.db.scalar(f"SELECT count(*) FROM {table}") for table in COUNTED}


def opened(stores, spec: str, label: str, tally: Tally) -> SettlementStore | None:
    """Open the store and run both checks; a failure is a corruption."""
    try:
        store = stores.open(spec)
    except Exception as error:  # noqa: BLE001 - any failure to open is what we count
        tally.corruptions.append(f"{label}: does not open: {error}")
        return None
    integrity = stores.integrity(store)
    report = check_store(store)
    if integrity != "ok" or not report.ok:
        tally.corruptions.append(f"{label}: integrity {integrity!r}; {report.summary()}")
    return store


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, pathlib.Path]:
    """The stores and the export every run starts from, made once."""
    folder = tmp_path_factory.mktemp("fault_templates")
    with SettlementStore.create(folder / "base.sqlite", 32630, actor="fault") as store:
        store.settlements.add(Settlement(code="KOU", name="Koumassi"))
    with SettlementStore.create(folder / "demo.sqlite", 32630, actor="fault") as store:
        load_demo_settlement(store, ROOT / "demo" / "data")
    with SettlementStore.create(folder / "approved.sqlite", 32630, actor="fault") as store:
        load_demo_settlement(store, ROOT / "demo" / "data")
        adjudicate_blocks(store, CERTIFIED_BLOCKS, objection=False)
    export = folder / "export"
    export.mkdir()
    fault_worker.write_export(export, SUBMISSIONS, seed=SEED)
    return {"base": folder / "base.sqlite", "demo": folder / "demo.sqlite", "export": export,
            "approved": folder / "approved.sqlite"}


@pytest.fixture(params=("spatialite", "postgis"))
def stores(request, templates, tmp_path):
    """Where the worker writes: SpatiaLite files, or schemas of the PostGIS test server."""
    if request.param == "spatialite":
        yield FileStores(templates, tmp_path)
        return
    server = request.getfixturevalue("postgis_server")  # skips when PostGIS is missing
    with contextlib.closing(PostgisStores(templates, server)) as postgis:
        yield postgis


def unkilled(stores, spec: str, args: list[str]) -> float:
    """Run the worker to its end; how long the operation took."""
    seconds = run_worker(args, None).seconds
    stores.settle(spec)
    return seconds


def kill_imports(stores, templates, rng: random.Random, tally: Tally) -> None:
    export = str(templates["export"])
    reference = stores.fresh("base", "import-ref")
    with stores.open(reference) as store:
        before = counts(store)
    window = unkilled(stores, reference, ["import", reference, export])
    with stores.open(reference) as store:
        after = counts(store)
    stores.discard(reference)
    assert after["submission"] == SUBMISSIONS
    for n in attempts("import", tally):
        spec = stores.fresh("base", f"import-{n}")
        run = killed(stores, spec, ["import", spec, export], window, rng, "import", n, tally)
        window = narrowed(window, run)
        label = f"import kill {n} after {run.seconds * 1000:.0f} ms"
        store = opened(stores, spec, label, tally)
        if store is not None:
            with store:
                found = counts(store)
            state = "none" if found == before else "all" if found == after else "partial"
            tally.states[("import", state)] += 1
            if state == "partial":
                tally.partial.append(f"{label}: {found}")
        stores.discard(spec)


def enumeration_problems(store: SettlementStore, reported: set[str]) -> list[str]:
    """Every household saved must be whole; at most one more than the worker reported."""
    problems = []
    stored = {r["id"] for r in store.db.query(
        "SELECT id FROM party WHERE party_type = 'household'")}
    n = len(stored)
    found = counts(store)
    whole = {"party": n * (1 + fault_worker.ENUMERATION_MEMBERS),
             "spatial_unit": n, "social_tenure": n * fault_worker.ENUMERATION_CLAIMS,
             "supporting_document": n * fault_worker.ENUMERATION_PHOTOS}
    if any(found[table] != expected for table, expected in whole.items()):
        problems.append(f"{n} households but {found}")
    sizes = store.db.query("SELECT h.id, count(m.id) AS members FROM party h LEFT JOIN party m "
                           "ON m.group_party_id = h.id WHERE h.party_type = 'household' "
                           "GROUP BY h.id")
    problems += [f"household {r['id']} has {r['members']} members" for r in sizes
                 if r["members"] != fault_worker.ENUMERATION_MEMBERS]
    if not reported <= stored:
        problems.append(f"committed households lost: {sorted(reported - stored)}")
    if len(stored - reported) > 1:
        problems.append(f"{len(stored - reported)} unreported households")
    return problems


def kill_enumerations(stores, rng: random.Random, tally: Tally) -> None:
    reference = stores.fresh("base", "enumerate-ref")
    window = unkilled(stores, reference, ["enumerate", reference, str(ENUMERATIONS)])
    stores.discard(reference)
    for n in attempts("enumerate", tally):
        spec = stores.fresh("base", f"enumerate-{n}")
        run = killed(stores, spec, ["enumerate", spec, str(ENUMERATIONS)], window, rng,
                     "enumerate", n, tally)
        window = narrowed(window, run)
        label = f"enumeration kill {n} after {run.seconds * 1000:.0f} ms"
        store = opened(stores, spec, label, tally)
        if store is not None:
            with store:
                problems = enumeration_problems(store, run.reported)
                extra = store.parties.count() // 4 - len(run.reported)
            tally.states[("enumerate", f"{extra} beyond reported")] += 1
            tally.partial += [f"{label}: {p}" for p in problems]
        stores.discard(spec)


def copy_state(stores, spec: str, label: str, full: dict, empty: dict,
               tally: Tally) -> str | None:
    """What a killed copy left in its target: none, all, partial (or no store at all)."""
    if not stores.exists(spec):  # killed while the target was being created
        return "no target"
    try:
        stores.open(spec).close()
    except NotAStoreError:
        return "target not a store"
    store = opened(stores, spec, label, tally)
    if store is None:
        return None
    with store:
        found = counts(store)
        copied = store.db.scalar(f"SELECT value FROM {INFO_TABLE} WHERE key = 'copied_from'")
    state = ("none" if found == empty and copied is None else
             "all" if found == full and copied is not None else "partial")
    if state == "partial":
        tally.partial.append(f"{label}: {found}")
    return state


def kill_copies(stores, templates, rng: random.Random, tally: Tally) -> None:
    demo = str(templates["demo"])
    reference = stores.new("copy-ref")
    window = unkilled(stores, reference, ["copy", demo, reference])
    with stores.open(reference) as store:
        full = counts(store)
    stores.discard(reference)
    new = stores.new("copy-empty")
    fault_worker.create_store(new, 32630, "fault").close()
    with stores.open(new) as store:
        empty = counts(store)
    stores.discard(new)
    for n in attempts("copy", tally):
        spec = stores.new(f"copy-{n}")
        run = killed(stores, spec, ["copy", demo, spec], window, rng, "copy", n, tally)
        window = narrowed(window, run)
        state = copy_state(stores, spec, f"copy kill {n} after {run.seconds * 1000:.0f} ms",
                           full, empty, tally)
        if state is not None:
            tally.states[("copy", state)] += 1
        stores.discard(spec)


def certificate_problems(store: SettlementStore, out: pathlib.Path,
                         commits: int) -> tuple[list[str], int]:
    """Each certificate whole (number, event, claims, file) and the numbering gap-free.

    Returns the problems and how many registered certificates lack their final
    PDF: a kill between COMMIT and the rename leaves it under its partial
    name; the register is the record, and a reprint writes the file again.
    """
    problems = []
    certificates = store.db.query("SELECT id, seq, number, spatial_unit_id, pdf_file, "
                                  "pdf_sha256 FROM certificate ORDER BY seq")
    seqs = [c["seq"] for c in certificates]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"numbers not gap-free: {seqs}")
    if not commits <= len(certificates) <= commits + 1:
        problems.append(f"{len(certificates)} certificates after {commits} commits")
    events = store.db.scalar("SELECT count(*) FROM certificate_event WHERE event = 'issued'")
    if events != len(certificates):
        problems.append(f"{events} issued events for {len(certificates)} certificates")
    certified = {c["spatial_unit_id"] for c in certificates}
    states = store.db.query("SELECT spatial_unit_id, adjudication_state FROM social_tenure "
                            "WHERE end_lifespan_version IS NULL AND adjudication_state IN "
                            "('approved', 'issued')")
    problems += [f"claim on {s['spatial_unit_id']} is {s['adjudication_state']}"
                 for s in states
                 if (s["adjudication_state"] == "issued") != (s["spatial_unit_id"] in certified)]
    registered = {f"{c['number']}.pdf" for c in certificates}
    on_disk = {p.name for p in out.glob("*.pdf") if not p.name.startswith(".")}
    if on_disk - registered:
        problems.append(f"PDFs of certificates not in the register: {sorted(on_disk - registered)}")
    return problems, len(registered - on_disk)


def kill_certifications(stores, folder: pathlib.Path, rng: random.Random,
                        tally: Tally) -> None:
    reference = stores.fresh("approved", "certify-ref")
    (folder / "certify-ref").mkdir()
    window = unkilled(stores, reference, ["certify", reference, str(folder / "certify-ref")])
    stores.discard(reference)
    for n in attempts("certify", tally):
        spec = stores.fresh("approved", f"certify-{n}")
        out = folder / f"certify-{n}"
        out.mkdir()
        run = killed(stores, spec, ["certify", spec, str(out)], window, rng, "certify", n,
                     tally)
        window = narrowed(window, run)
        label = f"certify kill {n} after {run.seconds * 1000:.0f} ms"
        store = opened(stores, spec, label, tally)
        if store is not None:
            with store:
                problems, unrenamed = certificate_problems(store, out,
                                                           run.lines.count("commit"))
            tally.states[("certify", "whole" if not problems else "partial")] += 1
            tally.states[("certify", "PDF left under its partial name")] += unrenamed
            tally.partial += [f"{label}: {p}" for p in problems]
        stores.discard(spec)


MERGE_COUNTED = ("package_merge", "merge_conflict", "field_package_base")


def merge_state(store: SettlementStore) -> dict[str, int]:
    """Row counts, and how many live records the package brought or changed."""
    found = counts(store)
    found.update({table: store.db.scalar(f"SELECT count(*) FROM {table}")
                  for table in MERGE_COUNTED})
    for table in ("party", "spatial_unit", "social_tenure"):
        found[f"{table} from the package"] = store.db.scalar(
            f"SELECT count(*) FROM {table} WHERE prov_package IS NOT NULL")
    found["merges"] = store.db.scalar("SELECT coalesce(sum(merge_count), 0) FROM field_package")
    return found


def kill_merges(stores, folder: pathlib.Path, rng: random.Random, tally: Tally) -> None:
    """A returned field package merged (conflicts resolved by policy) and killed; a killed
    merge is merged again afterwards, which must give the same store as an unkilled one."""
    from stdm_plugin.core.packages.apply import merge_package

    def prepared(name: str) -> tuple[str, str]:
        spec = stores.fresh("demo", name)
        package = str(folder / f"{name}-package")
        with stores.open(spec) as store:
            fault_worker.prepare_package(store, package)
        return spec, package

    reference, package = prepared("merge-ref")
    with stores.open(reference) as store:
        before = merge_state(store)
    window = unkilled(stores, reference, ["merge", reference, package])
    with stores.open(reference) as store:
        after = merge_state(store)
    stores.discard(reference)
    assert after["merge_conflict"] == 20 and after["merges"] == 1
    for n in attempts("merge", tally):
        spec, package = prepared(f"merge-{n}")
        run = killed(stores, spec, ["merge", spec, package], window, rng, "merge", n, tally)
        window = narrowed(window, run)
        label = f"merge kill {n} after {run.seconds * 1000:.0f} ms"
        store = opened(stores, spec, label, tally)
        if store is not None:
            with store:
                found = merge_state(store)
                state = "none" if found == before else "all" if found == after else "partial"
                if state == "partial":
                    tally.partial.append(f"{label}: {found}")
                merge_package(store, package, policy="theirs")  # the team's work, resumed
                if merge_state(store) != after:
                    tally.partial.append(f"{label}: merged again, {merge_state(store)}")
            tally.states[("merge", state)] += 1
        stores.discard(spec)


def test_killed_writers_leave_whole_stores(stores, templates, tmp_path):
    rng = random.Random(SEED)
    tally = Tally(KILLS[stores.name])
    started = time.perf_counter()
    kill_imports(stores, templates, rng, tally)
    kill_enumerations(stores, rng, tally)
    kill_copies(stores, templates, rng, tally)
    kill_merges(stores, tmp_path, rng, tally)
    kill_certifications(stores, tmp_path, rng, tally)
    print(f"\nfault test on {stores.name}: {sum(tally.kills.values())} kills in "
          f"{time.perf_counter() - started:.1f} s; kills {dict(tally.kills)}; "
          f"mid-transaction {dict(tally.mid_transaction)}; states "
          f"{ {f'{op} {state}': n for (op, state), n in sorted(tally.states.items())} }; "
          f"corruptions {len(tally.corruptions)}; partial operations {len(tally.partial)}"
          + (f"; left behind {len(tally.left_behind)}; longest wait for the server "
             f"{tally.settle_seconds * 1000:.0f} ms; idle sessions {tally.idle_sessions}"
             if stores.name == "postgis" else ""))
    assert tally.corruptions == []
    assert tally.partial == []
    assert tally.left_behind == []
    assert tally.kills == tally.wanted
