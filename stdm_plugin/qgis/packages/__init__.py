"""Field packages inside QGIS: cut and merge tasks, the package's project, Processing.

Owns the cut and merge tasks, the QGIS/QField project written into a
package, a merge plan as people read it (names, both versions, CSV), and
stdm:cutfieldpackage and stdm:mergefieldpackage.
May import: qgis/cadastre and the capabilities below it, and core.
"""
