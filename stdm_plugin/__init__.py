"""STDM Settlement Mapper: QGIS entry point.

QGIS imports this package and calls ``classFactory``; everything else is
loaded from there so that ``import stdm_plugin.core`` stays free of QGIS.
"""


def classFactory(iface):  # noqa: N802 - name fixed by QGIS
    from .plugin import StdmPlugin

    return StdmPlugin(iface)
