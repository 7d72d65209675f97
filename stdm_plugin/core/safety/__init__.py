"""Keeping a store sound: backups, restores, the consistency check, personal data.

Owns the backup zip, its signature and the backup keys, its checked
restore, the read-only consistency check (rules, files, certificate
register), and what counts as personal data and how an export treats it.
May import: core/settlement_store and every capability below it.
"""
