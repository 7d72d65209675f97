"""Field packages in the plugin's menu: create one, merge one back.

Owns the create dialog, choosing a returned package, deciding its
conflicts, the merge report, and their actions.
May import: gui/cadastre and the capabilities below it, qgis and core.
"""
