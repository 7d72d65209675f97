"""What leaves the store for the cadastre and partners.

Owns the export layers and what each field means, writing them in each
format within its limits, export files that appear whole, the data
dictionary, and the parcels changed since a date.
May import: core/safety and every capability below it.
"""
