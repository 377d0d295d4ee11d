"""The seeded population of the apps world: people, their relationships, passwords.

Everything is derived from one integer seed with :class:`random.Random`, so the same
seed always gives the same world.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Lena", "Omar", "Iris", "Felix", "Nora", "Hugo",
    "Chloe", "Ravi", "Sofia", "Mateo", "Priya", "Jonas", "Aisha", "Leo", "Hana", "Caleb", "Elena",
    "Kofi", "Mila", "Tariq", "Ines", "Bruno", "Yara", "Owen", "Lucia", "Sami", "Freya", "Dario",
    "Amara", "Theo", "Keiko", "Marcus", "Nadia", "Pablo", "Greta", "Idris", "Vera", "Emil", "Rosa",
    "Kai", "Alma", "Jasper", "Leila", "Milo", "Anya", "Rhys", "Talia", "Victor", "Wren", "Zane",
    "Clara", "Dev", "Esme", "Gabriel", "Ingrid", "Jude", "Lara", "Nico", "Oona", "Quinn",
    "Selma", "Tomas", "Uma", "Basil", "Daria", "Elio", "Fatima", "Goran", "Halle", "Ivo",
)
LAST_NAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Kowalski", "Silva", "Brennan", "Castillo",
    "Nakamura", "Petrov", "Adeyemi", "Fischer", "Rossi", "Novak", "Mendes", "Larsen", "Chen",
    "Dubois", "Khan", "Varga", "Ibarra", "Stone", "Weber", "Park", "Quinlan",
)
CITIES = ("Lisbon", "Oslo", "Toronto", "Austin", "Melbourne", "Nairobi", "Osaka", "Porto")
COMPANIES = ("Brightline", "Cobalt Labs", "Northwind", "Quarry & Co", "Tessellate", "Umbra Health")
APPS_WITH_LOGIN = ("phone", "mail", "notes", "todo", "wallet", "music", "shop", "files", "splitbill", "calendar")


@dataclass(frozen=True)
class Person:
    id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    birthday: str
    city: str
    company: str
    relationships: dict[str, str] = field(default_factory=dict)  # other person id -> relation

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": self.full_name,
            "email": self.email,
            "phone": self.phone,
            "birthday": self.birthday,
            "city": self.city,
            "company": self.company,
        }


@dataclass(frozen=True)
class Population:
    people: tuple[Person, ...]
    passwords: dict[tuple[str, str], str]  # (app, person id) -> password

    def by_id(self) -> dict[str, Person]:
        return {p.id: p for p in self.people}

    def related(self, person_id: str, relation: str | None = None) -> list[Person]:
        me = self.by_id()[person_id]
        people = self.by_id()
        return [people[o] for o, r in me.relationships.items() if relation is None or r == relation]


def generate_population(seed: int, size: int = 72) -> Population:
    rng = random.Random(f"people:{seed}")
    firsts = list(FIRST_NAMES)
    rng.shuffle(firsts)
    if size > len(firsts):
        raise ValueError(f"at most {len(firsts)} people")
    # households: families share a last name
    lasts = list(LAST_NAMES)
    rng.shuffle(lasts)
    raw = []
    i = 0
    family_of: dict[int, int] = {}
    fam = 0
    while i < size:
        n = min(rng.choice((1, 2, 2, 3, 4)), size - i)
        last = lasts[fam % len(lasts)]
        for _ in range(n):
            raw.append((firsts[i], last))
            family_of[i] = fam
            i += 1
        fam += 1
    rels: dict[int, dict[int, str]] = {k: {} for k in range(size)}

    def link(a: int, b: int, rel: str) -> None:
        if a != b and b not in rels[a]:
            rels[a][b] = rel
            rels[b][a] = rel

    for a in range(size):
        for b in range(a + 1, size):
            if family_of[a] == family_of[b]:
                link(a, b, "family")
    companies = [rng.choice(COMPANIES) for _ in range(size)]
    for a in range(size):
        for b in range(a + 1, size):
            if companies[a] == companies[b] and rng.random() < 0.35:
                link(a, b, "coworker")
    for a in range(size):
        for b in rng.sample(range(size), 4):
            link(a, b, "friend")
    singles = [k for k in range(size) if not any(r == "family" for r in rels[k].values())]
    rng.shuffle(singles)
    for a, b in zip(singles[0::2], singles[1::2]):
        rels[a][b] = rels[b][a] = "roommate"

    people = []
    used_phones: set[str] = set()
    for k, (first, last) in enumerate(raw):
        pid = f"p{k:03d}"
        while True:
            phone = f"+1555{rng.randrange(1000000, 9999999)}"
            if phone not in used_phones:
                used_phones.add(phone)
                break
        born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 45))
        people.append(
            Person(
                id=pid,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}@example.com",
                phone=phone,
                birthday=born.isoformat(),
                city=rng.choice(CITIES),
                company=companies[k],
                relationships={f"p{o:03d}": r for o, r in sorted(rels[k].items())},
            )
        )
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    passwords = {
        (app, p.id): "".join(rng.choice(alphabet) for _ in range(12)) for p in people for app in APPS_WITH_LOGIN
    }
    return Population(people=tuple(people), passwords=passwords)
