"""Adjudication on paper: the public display list for the notice board.

May import: qgis/submissions and the capabilities below it, and core.
"""
