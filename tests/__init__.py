"""Test suite; a package so tests/qgis can never shadow the real qgis module."""
