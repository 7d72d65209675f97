"""End-to-end tests that drive the real QGIS desktop."""
