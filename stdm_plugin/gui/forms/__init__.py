"""The "Enumerate household" wizard, generated from an enumeration form.

Owns a widget per question type, the map tool for geo questions, the
section and repeat pages, and the summary page that saves.
May import: gui/store, qgis and core.
"""
