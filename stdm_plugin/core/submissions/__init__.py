"""What KoBoToolbox and ODK Central export, imported as store records.

Owns reading the exported CSV and XLSX files, ODK answer values, the field
mappings (YAML, or derived from the plugin's own form), turning a
submission into records, the import itself and its report.
May import: core/store, core/register, core/forms.
"""
