"""Dialogs and docks: thin, they call core/ and qgis/ and hold no domain rules."""
