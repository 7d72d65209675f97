import pathlib
import subprocess
import sys

import stdm_plugin.core as core
from stdm_plugin.core.store.lookups import DEFAULT_LOOKUPS

CORE = pathlib.Path(core.__file__).parent


def test_every_lookup_has_english_and_french_labels(store):
    for category, values in DEFAULT_LOOKUPS.items():
        english = store.lookups.labels(category, "en")
        french = store.lookups.labels(category, "fr")
        assert list(english) == [code for code, *_ in values]
        assert all(french[c] and french[c] != english[c] or c in ("commercial", "parent")
                   for c in english), category


def test_unknown_language_falls_back_to_english(store):
    assert store.lookups.labels("sex", "sw")["female"] == "Female"


def test_core_imports_where_qgis_cannot_be_imported():
    blocker = ("import sys\n"
               "for name in ('qgis', 'PyQt5', 'PyQt6'):\n"
               "    sys.modules[name] = None\n"
               "import stdm_plugin.core as c\n"
               "print(c.SettlementStore.__name__)\n")
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                          cwd=CORE.parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SettlementStore"
