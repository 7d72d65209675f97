"""Where records are kept: the store itself, below every other capability.

Owns the backends (SpatiaLite, PostGIS) behind one interface, the schema
and its migrations, versioned records and their history, the records as
dataclasses (model), code lists, users and roles, coordinate systems, the
typed errors (with the redaction every message passes through), copying a
store (publish) and report files written whole.
May import: nothing of the plugin outside core/store.
"""
