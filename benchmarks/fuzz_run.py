"""The long fuzz run: the properties of tests/core/test_fuzz.py with many more inputs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/fuzz_run.py [--examples N] [-k TEXT]

Each property runs with N examples (the import ones with N/2 and N/4: each of
their inputs writes an export, a workbook, a GeoJSON file, a GeoPackage or a Shapefile and
imports it into a SpatiaLite store). It
prints the inputs tried per target (examples, plus hypothesis's replays and
shrinks of a failure) and the crashes: an input that made a target raise
anything but its documented refusal, write partially, hang past the deadline or
read a file outside the media folder, or make a mutated QR payload "valid". The
exit status is 1 when there is one. Inputs that hit a crash already held by an
xfail test are counted apart (KNOWN_CRASHES).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=2500,
                        help="examples per property (default 2500: about 20,000 inputs)")
    parser.add_argument("-k", dest="only", action="append", default=[],
                        help="run only the properties whose name holds this text (repeatable)")
    args = parser.parse_args()
    os.environ["STDM_FUZZ_EXAMPLES"] = str(args.examples)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "core")]
    import test_fuzz  # the same properties as the test suite, read with the new count

    properties = [(name, test) for name, test in vars(test_fuzz).items()
                  if name.startswith("test_") and hasattr(test, "hypothesis")
                  and (not args.only or any(part in name for part in args.only))]
    crashes = []
    started = time.perf_counter()
    print(f"{'target':<46} {'inputs':>8} {'crashes':>8} {'seconds':>8}", flush=True)
    for name, test in properties:
        before = sum(test_fuzz.TRIED.values())
        began = time.perf_counter()
        failed = 0
        try:
            test()
        except Exception:  # noqa: BLE001 - every failure is a crash to report
            failed = 1
            crashes.append((name, traceback.format_exc()))
        tried = sum(test_fuzz.TRIED.values()) - before
        target = name.removeprefix("test_").replace("_", " ")[:46]
        print(f"{target:<46} {tried:>8} {failed:>8} {time.perf_counter() - began:>8.1f}",
              flush=True)
    total = sum(test_fuzz.TRIED.values())
    print(f"{'total':<46} {total:>8} {len(crashes):>8} "
          f"{time.perf_counter() - started:>8.1f}")
    for name, trace in crashes:
        print(f"\n--- crash in {name}\n{trace}", file=sys.stderr)
    known = sum(test_fuzz.KNOWN_CRASHES.values())
    if known:
        print(f"known crashes (held by xfail tests; among the inputs, not the crashes): {known} "
              f"{dict(test_fuzz.KNOWN_CRASHES)}")
    for target in (test_fuzz.ImportTarget, test_fuzz.SpatialTarget, test_fuzz.SignedTarget):
        target.close()
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
