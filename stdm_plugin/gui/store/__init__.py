"""Creating, opening and signing in to a store: its dialogs and actions.

Owns the new-store and PostGIS dialogs, sign-in and user management (the
dialogs and the SignInActions mixin: who is signed in to which store), and
the look of the read-only tables every dialog shares.
May import: qgis and core.
"""
