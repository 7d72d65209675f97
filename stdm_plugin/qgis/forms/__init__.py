"""Enumeration forms inside QGIS: their rules on the layers' attribute forms.

Owns rewriting XLSForm expressions as QGIS expressions, and configuring
the layers' attribute forms (constraints, relevance, labels) from a form.
May import: qgis/store, qgis/i18n, and core.
"""
