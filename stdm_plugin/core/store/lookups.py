"""Code lists (LADM "code lists"): tenure types, sex, ID documents, land use...

Stored as data, so that a project can add its own values (a local tenure
form, a national ID card) without a plugin release. Each value has a
label per language; English and French ship.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backend import Backend

LANGUAGES = ("en", "fr")

# category -> [(code, English, French)]
DEFAULT_LOOKUPS: dict[str, list[tuple[str, str, str]]] = {
    "tenure_type": [
        ("owner", "Owner", "Propriétaire"),
        ("co_owner", "Co-owner", "Copropriétaire"),
        ("tenant", "Tenant", "Locataire"),
        ("sub_tenant", "Sub-tenant", "Sous-locataire"),
        ("customary", "Customary right", "Droit coutumier"),
        ("heir", "Heir (inherited, not transferred)", "Héritier (succession non réglée)"),
        ("occupant", "Occupant, no document", "Occupant sans titre"),
        ("caretaker", "Caretaker", "Gardien"),
        ("disputed", "Disputed", "Litigieux"),
    ],
    "sex": [
        ("female", "Female", "Féminin"),
        ("male", "Male", "Masculin"),
        ("other", "Other", "Autre"),
        ("undisclosed", "Prefers not to say", "Non déclaré"),
    ],
    "id_document_type": [
        ("national_id", "National identity card", "Carte nationale d'identité"),
        ("passport", "Passport", "Passeport"),
        ("voter_card", "Voter card", "Carte d'électeur"),
        ("birth_certificate", "Birth certificate", "Acte de naissance"),
        ("residence_permit", "Residence permit", "Titre de séjour"),
        ("consular_card", "Consular card", "Carte consulaire"),
        ("none", "No document", "Aucun document"),
    ],
    "land_use": [
        ("residential", "Residential", "Résidentiel"),
        ("commercial", "Commercial", "Commercial"),
        ("mixed", "Mixed residential and commercial", "Mixte habitat et commerce"),
        ("religious", "Place of worship", "Lieu de culte"),
        ("community", "Community facility", "Équipement communautaire"),
        ("agricultural", "Agricultural", "Agricole"),
        ("vacant", "Vacant", "Non bâti"),
    ],
    "household_role": [
        ("head", "Head of household", "Chef de ménage"),
        ("spouse", "Spouse or partner", "Conjoint(e)"),
        ("child", "Child", "Enfant"),
        ("parent", "Parent", "Parent"),
        ("other_relative", "Other relative", "Autre parent"),
        ("non_relative", "Not related", "Non apparenté"),
    ],
    "document_type": [
        ("photo", "Photograph", "Photographie"),
        ("id_scan", "Scan of identity document", "Copie de pièce d'identité"),
        ("signed_form", "Signed enumeration form", "Fiche de recensement signée"),
        ("sale_agreement", "Sale agreement", "Convention de vente"),
        ("rent_receipt", "Rent receipt", "Quittance de loyer"),
        ("customary_attestation", "Customary attestation", "Attestation coutumière"),
        ("other", "Other document", "Autre document"),
    ],
}

#: the party and tenure fields whose values come from a code list
LOOKUP_FIELDS: dict[tuple[str, str], str] = {
    ("party", "sex"): "sex",
    ("party", "id_document_type"): "id_document_type",
    ("party", "household_role"): "household_role",
    ("spatial_unit", "land_use"): "land_use",
    ("social_tenure", "tenure_type"): "tenure_type",
    ("supporting_document", "document_type"): "document_type",
}


def seed_lookups(db: Backend, actor: str = "stdm-setup") -> None:
    lookup_rows = []
    label_rows = []
    for category, values in DEFAULT_LOOKUPS.items():
        for order, (code, *labels) in enumerate(values):
            lookup_rows.append((category, code, order, actor, actor))
            for lang, label in zip(LANGUAGES, labels):
                label_rows.append((category, code, lang, label, actor, actor))
    db.executemany("INSERT INTO lookup (category, code, sort_order, created_by, updated_by) "
                   "VALUES (?, ?, ?, ?, ?)", lookup_rows)
    db.executemany("INSERT INTO lookup_label (category, code, lang, label, created_by, "
                   "updated_by) VALUES (?, ?, ?, ?, ?, ?)", label_rows)


class LookupRepository:
    """Read and extend the code lists; codes are cached per store connection."""

    def __init__(self, store) -> None:
        self.store = store
        self.db = store.db
        self._codes: dict[str, set[str]] = {}

    def codes(self, category: str) -> set[str]:
        if category not in self._codes:
            self._codes[category] = {r["code"] for r in self.db.query(
                "SELECT code FROM lookup WHERE category = ? AND end_lifespan_version IS NULL",
                (category,))}
        return self._codes[category]

    def categories(self) -> list[str]:
        return [r["category"] for r in self.db.query(
            "SELECT DISTINCT category FROM lookup ORDER BY category")]

    def labels(self, category: str, lang: str = "en") -> dict[str, str]:
        """code -> label in ``lang``, falling back to English, then to the code itself."""
        rows = self.db.query(
            "SELECT l.code, coalesce(wanted.label, english.label, l.code) AS label "
            "FROM lookup l "
            "LEFT JOIN lookup_label wanted ON wanted.category = l.category "
            "  AND wanted.code = l.code AND wanted.lang = ? "
            "  AND wanted.end_lifespan_version IS NULL "
            "LEFT JOIN lookup_label english ON english.category = l.category "
            "  AND english.code = l.code AND english.lang = 'en' "
            "  AND english.end_lifespan_version IS NULL "
            "WHERE l.category = ? AND l.end_lifespan_version IS NULL "
            "ORDER BY l.sort_order, l.code", (lang, category))
        return {r["code"]: r["label"] for r in rows}

    def check(self, table: str, field: str, value: str | None, *, record_id: str | None = None,
              required: bool = False) -> None:
        from .errors import ValidationError

        category = LOOKUP_FIELDS[(table, field)]
        if value in (None, ""):
            if required:
                raise ValidationError(f"{table}.{field} is required", table=table, field=field,
                                      record_id=record_id)
            return
        if value not in self.codes(category):
            raise ValidationError(
                f"{table}.{field}: {value!r} is not in the {category} list "
                f"(known: {', '.join(sorted(self.codes(category)))})",
                table=table, field=field, value=value, record_id=record_id)

    def add_value(self, category: str, code: str, labels: dict[str, str]) -> None:
        """Extend a code list, e.g. a local form of customary tenure."""
        import re

        from .errors import ValidationError

        if not re.match(r"^[a-z][a-z0-9_]{0,39}$", code or ""):
            raise ValidationError(
                f"Code {code!r} must be lower-case letters, digits and _ (max 40)",
                table="lookup", field="code", value=code)
        if not (labels.get("en") or "").strip():
            raise ValidationError("A new value needs at least an English label",
                                  table="lookup_label", field="label", value=code)
        if code in self.codes(category):
            raise ValidationError(f"{code!r} is already in the {category} list",
                                  table="lookup", field="code", value=code)
        actor = self.store.actor
        with self.store.transaction():
            order = self.db.scalar(
                "SELECT coalesce(max(sort_order), -1) + 1 FROM lookup WHERE category = ?",
                (category,))
            self.db.execute("INSERT INTO lookup (category, code, sort_order, created_by, "
                            "updated_by) VALUES (?, ?, ?, ?, ?)",
                            (category, code, order, actor, actor))
            self.db.executemany(
                "INSERT INTO lookup_label (category, code, lang, label, created_by, updated_by) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(category, code, lang, text.strip(), actor, actor)
                 for lang, text in labels.items() if (text or "").strip()])
        self._codes.pop(category, None)
