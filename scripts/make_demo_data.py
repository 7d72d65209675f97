#!/usr/bin/env python3
"""Generate the bundled demo settlement (seeded; run once, output committed in demo/data).

An invented informal settlement laid out like the lagoon-side neighbourhoods
of Abidjan (UTM zone 30N): irregular blocks cut into parcels that share
their boundaries, a dwelling on most parcels, households with members, and
tenure of the kinds enumerators meet there. Names are common Ivorian names
drawn at random; ID and phone numbers are synthetic.
"""
from __future__ import annotations

import csv
import json
import pathlib
import random

from shapely.affinity import rotate
from shapely.geometry import Point, Polygon, mapping

OUT = pathlib.Path(__file__).resolve().parents[1] / "demo" / "data"
ORIGIN = (395_000.0, 585_000.0)  # UTM 30N, near Koumassi
BLOCKS_X, BLOCKS_Y = 8, 5
BLOCK_W, BLOCK_H, STREET = 64.0, 42.0, 7.0
COLS, ROWS = 4, 2
SURNAMES = ["Koné", "Traoré", "Ouattara", "Kouassi", "Yao", "Konan", "Bamba", "Coulibaly",
            "Diabaté", "N'Guessan", "Kouamé", "Touré", "Diallo", "Soro", "Cissé", "Aka",
            "Brou", "Gnagne", "Zadi", "Sanogo", "Fofana", "Dosso", "Tanoh", "Assi"]
FEMALE = ["Awa", "Mariam", "Fatou", "Aminata", "Adjoua", "Affoué", "Akissi", "Ahou",
          "Salimata", "Kadiatou", "Nadège", "Christelle", "Bintou", "Rokia", "Estelle"]
MALE = ["Issa", "Moussa", "Yacouba", "Kouadio", "Konan", "Yao", "Seydou", "Lassina",
        "Jean-Marc", "Serge", "Drissa", "Adama", "Ibrahim", "Koffi", "Arsène"]
TENURE_MIX = [("owner", 34), ("co_owner", 14), ("customary", 10), ("occupant", 20),
              ("heir", 9), ("disputed", 8), ("caretaker", 5)]
LAND_USE_MIX = [("residential", 72), ("mixed", 14), ("commercial", 8), ("religious", 2),
                ("community", 2), ("vacant", 2)]


def weighted(rng: random.Random, mix):
    return rng.choices([m[0] for m in mix], weights=[m[1] for m in mix])[0]


def block_parcels(rng: random.Random, x0: float, y0: float) -> list[Polygon]:
    """Cut one block into COLS x ROWS parcels along jittered lines, so neighbours share edges."""
    xs = [x0 + BLOCK_W * i / COLS + (rng.uniform(-4, 4) if 0 < i < COLS else 0)
          for i in range(COLS + 1)]
    mid = [y0 + BLOCK_H / 2 + rng.uniform(-5, 5) for _ in xs]
    grid = [[(x, y0) for x in xs], [(x, m) for x, m in zip(xs, mid)],
            [(x, y0 + BLOCK_H) for x in xs]]
    parcels = []
    for r in range(ROWS):
        for c in range(COLS):
            ring = [grid[r][c], grid[r][c + 1], grid[r + 1][c + 1], grid[r + 1][c]]
            parcels.append(Polygon(ring))
    return parcels


def person(rng, household_ref, index, role, surname):
    sex = rng.choice(["female", "male"]) if role != "spouse" else None
    if role == "head":
        age = rng.randint(24, 70)
    elif role == "spouse":
        age = rng.randint(20, 60)
    elif role == "child":
        age = rng.randint(0, 22)
    else:
        age = rng.randint(8, 80)
    sex = sex or rng.choice(["female", "male"])
    first = rng.choice(FEMALE if sex == "female" else MALE)
    adult = age >= 18
    has_dob = rng.random() < 0.6
    year = 2025 - age
    dob = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" if has_dob else ""
    id_type = rng.choice(["national_id", "national_id", "voter_card", "consular_card",
                          "none"]) if adult else ""
    id_number = "" if id_type in ("", "none") else f"DEMO{rng.randint(10**8, 10**9 - 1)}"
    phone = f"+225 07 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} " \
            f"{rng.randint(10, 99)}" if adult and rng.random() < 0.7 else ""
    return {"person_ref": f"{household_ref}-{index}", "household_ref": household_ref,
            "first_name": first, "last_name": surname, "sex": sex, "date_of_birth": dob,
            "age_years": "" if has_dob else age, "household_role": role,
            "id_document_type": id_type, "id_document_number": id_number, "phone": phone}


def household(rng, ref):
    surname = rng.choice(SURNAMES)
    size = rng.choices(range(1, 9), weights=[8, 12, 16, 18, 16, 12, 10, 8])[0]
    roles = ["head"] + (["spouse"] if size > 1 and rng.random() < 0.75 else [])
    while len(roles) < size:
        roles.append(rng.choices(["child", "other_relative", "parent", "non_relative"],
                                 weights=[70, 15, 8, 7])[0])
    members = [person(rng, ref, i + 1, role, surname) for i, role in enumerate(roles)]
    return {"household_ref": ref, "group_name": f"Ménage {surname} ({ref})"}, members


def generate(seed: int = 20261125) -> dict[str, list]:
    rng = random.Random(seed)
    parcels, structures, households, persons, tenure = [], [], [], [], []
    centre = (ORIGIN[0] + BLOCKS_X * (BLOCK_W + STREET) / 2,
              ORIGIN[1] + BLOCKS_Y * (BLOCK_H + STREET) / 2)
    for bx in range(BLOCKS_X):
        for by in range(BLOCKS_Y):
            x0 = ORIGIN[0] + bx * (BLOCK_W + STREET) + rng.uniform(-1.5, 1.5)
            y0 = ORIGIN[1] + by * (BLOCK_H + STREET) + rng.uniform(-1.5, 1.5)
            for shape in block_parcels(rng, x0, y0):
                ref = f"P{len(parcels) + 1:04d}"
                shape = rotate(shape, 12, origin=centre)
                parcels.append({"ref": ref, "land_use": weighted(rng, LAND_USE_MIX),
                                "block": f"B{bx + 1}{chr(65 + by)}", "geometry": shape})
    for parcel in parcels:
        shape, ref = parcel["geometry"], parcel["ref"]
        if parcel["land_use"] == "vacant":
            continue
        draw = rng.random()
        if draw < 0.82:
            inset = shape.buffer(-rng.uniform(1.0, 2.5), join_style=2)
            footprint = rotate(inset, rng.uniform(-4, 4)).intersection(shape)
            if not footprint.is_empty and footprint.geom_type == "Polygon":
                structures.append({"ref": f"S{ref[1:]}", "parcel_ref": ref,
                                   "geometry": footprint})
        elif draw < 0.93:
            c = shape.representative_point()
            structures.append({"ref": f"S{ref[1:]}", "parcel_ref": ref,
                               "geometry": Point(c.x + rng.uniform(-1, 1),
                                                 c.y + rng.uniform(-1, 1))})
        holders = []
        for _ in range(1 if rng.random() < 0.7 else 2):
            hh, members = household(rng, f"H{len(households) + 1:04d}")
            households.append(hh)
            persons.extend(members)
            holders.append(members)
        kind = weighted(rng, TENURE_MIX)
        since = f"{rng.randint(1985, 2025)}-{rng.randint(1, 12):02d}-01"
        first = holders[0]
        if kind in ("co_owner", "heir"):
            adults = [m for m in first if m["age_years"] == "" or int(m["age_years"]) >= 18]
            claimants = adults[:3] if len(adults) > 1 else first[:1]
            n = len(claimants)
            for m in claimants:
                tenure.append((m["person_ref"], ref, kind if n > 1 or kind == "heir" else "owner",
                               1, n, since))
        elif kind == "disputed" and len(holders) > 1:
            for members in holders:
                tenure.append((members[0]["person_ref"], ref, "disputed", 1, 2, since))
        else:
            tenure.append((first[0]["person_ref"], ref, "disputed" if kind == "disputed"
                           else kind, 1, 1, since))
        structure = next((s for s in structures if s["parcel_ref"] == ref), None)
        if len(holders) > 1 and kind != "disputed" and structure is not None:
            tenant = holders[1][0]
            tenure.append((tenant["person_ref"], structure["ref"],
                           "sub_tenant" if kind == "occupant" else "tenant", 1, 1,
                           f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}-01"))
    return {"parcels": parcels, "structures": structures, "households": households,
            "persons": persons, "tenure": tenure}


def write(data: dict[str, list]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    def features(rows):
        return {"type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32630"}},
                "features": [{"type": "Feature",
                              "properties": {k: v for k, v in row.items() if k != "geometry"},
                              "geometry": _rounded(mapping(row["geometry"]))} for row in rows]}
    for name in ("parcels", "structures"):
        (OUT / f"{name}.geojson").write_text(json.dumps(features(data[name]),
                                                        ensure_ascii=False), "utf-8")
    for name, header in (("households", ["household_ref", "group_name"]),
                         ("persons", list(data["persons"][0]))):
        with open(OUT / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(data[name])
    with open(OUT / "tenure.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person_ref", "unit_ref", "tenure_type", "share_numerator",
                         "share_denominator", "start_date"])
        writer.writerows(data["tenure"])


def _rounded(geometry):
    def walk(coords):
        if isinstance(coords[0], (int, float)):
            return [round(c, 2) for c in coords]
        return [walk(c) for c in coords]
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


if __name__ == "__main__":
    generated = generate()
    write(generated)
    print({k: len(v) for k, v in generated.items()}, "->", OUT)

