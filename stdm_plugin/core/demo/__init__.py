"""The bundled demo settlement, loaded and taken through adjudication.

Owns loading demo/data into a store through the core's rules and taking
some blocks through adjudication as a land office would.
May import: every other core capability.
"""
