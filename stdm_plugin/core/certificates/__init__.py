"""Occupancy certificates: the register, what each certifies, and proof.

Owns issuing (one or a batch), reprint, revoke and supersede with their
events and gap-free numbers, the frozen snapshot and the sheet handed to
the renderer, office signing keys and the signed QR payload, the QR code
encoder, and checking a scanned code.
May import: core/store up to core/adjudication.
"""
