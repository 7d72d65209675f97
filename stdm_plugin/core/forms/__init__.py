"""Enumeration forms declared as data, and what they check.

Owns the form definitions (forms/*.yaml) checked against the model, the
XLSForm expression language and its linear-time regex(), checking and
saving one household's enumeration, and the XLSForm export for phones.
May import: core/store, core/register.
"""
