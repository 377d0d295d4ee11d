"""Scenarios over phone, mail, notes, todo, calendar and files."""

from __future__ import annotations

import random
from typing import Any

from skillbank.worlds.apps.scenario import Expect, ScenarioDef, TaskSpec

# ---------------------------------------------------------------------------------------
# notes: tag every note that mentions a word (pagination + a write per match)

_TAG_NOTES_SKILL = '''
def tag_notes_mentioning(word: str, tag: str) -> int:
    """Add `tag` to every note of the supervisor whose title or content mentions `word`.

    Returns how many notes were newly tagged.
    """
    profile = apis.supervisor.show_profile()
    passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
    token = apis.notes.login(username=profile["email"], password=passwords["notes"])["access_token"]
    matches = []
    page = 0
    while True:
        batch = apis.notes.show_notes(access_token=token, query=word, page_index=page, page_limit=20)
        if not batch:
            break
        matches.extend(batch)
        page += 1
    tagged = 0
    for note in matches:
        if tag not in note["tags"]:
            apis.notes.add_tag(access_token=token, note_id=note["id"], tag=tag)
            tagged += 1
    return tagged
'''


def _build_tag_notes(data: Any, rng: random.Random) -> list[TaskSpec]:
    words = ["passport", "cake", "lentils", "budget", "tomatoes", "snacks"]
    tags = ["important", "later", "review", "todo-soon"]
    specs: list[TaskSpec] = []
    people = [p for p in data.people]
    rng.shuffle(people)
    for person in people:
        word = rng.choice(words)
        tag = rng.choice(tags)
        notes = data.rows_of("notes", "notes", person.id)
        hits = [n for n in notes if word in (n["title"] + " " + n["content"]).lower() and tag not in n["tags"]]
        if not hits:
            continue
        specs.append(
            TaskSpec(
                instruction=f"Tag every note of mine that mentions \"{word}\" with \"{tag}\", and tell me how many notes you tagged.",
                supervisor=person.id,
                call=f"tag_notes_mentioning(word={word!r}, tag={tag!r})",
                expect=tuple(
                    Expect("notes", "notes", "update", match={"id": n["id"], "tags": sorted({*n["tags"], tag})},
                           only_fields=frozenset({"tags", "updated_at"}))
                    for n in hits
                ),
                answer=len(hits),
            )
        )
        if len(specs) == 3:
            break
    return specs


SCENARIOS: list[ScenarioDef] = [
    ScenarioDef(
        id="notes_tag_mentioning",
        apps=("notes",),
        difficulty=1,
        split="train",
        skill_name="tag_notes_mentioning",
        skill_source=_TAG_NOTES_SKILL,
        build=_build_tag_notes,
        explore_block='print(apis.api_docs.show_api_descriptions(app_name="notes"))\nprint(apis.api_docs.show_api_doc(app_name="notes", api_name="show_notes"))',
        description="Find notes by text across pages and tag each one.",
    ),
]
