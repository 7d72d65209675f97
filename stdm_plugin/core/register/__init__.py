"""The land register's records: parties, spatial units, tenure, documents.

Owns the repositories of persons, households and groups, of settlements,
parcels and structures, of social tenure (who holds what right over which
unit, for what share) and of supporting documents with their files.
May import: core/store.
"""
