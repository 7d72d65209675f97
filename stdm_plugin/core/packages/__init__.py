"""Field packages: part of a store cut for a team offline, and merged back.

Owns the cut (area, records, the package's own store and manifest), the
rows and fingerprints packages compare, the merge plan, finding what each
side changed and the conflicts, and applying a plan in one transaction.
May import: core/cadastre and every capability below it.
"""
