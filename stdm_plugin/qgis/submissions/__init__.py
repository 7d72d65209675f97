"""Importing submissions in the background into the store shown.

Owns the import task (progress, Cancel, the store opened on the worker's
own connection) and what the dialog hands it.
May import: qgis/project and the capabilities below it, and core.
"""
