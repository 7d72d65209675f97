"""Adjudicate claims: the adjudication window and the forms its steps ask.

May import: gui/submissions and the capabilities below it, qgis and core.
"""
