"""The skill parser: what it accepts, what it refuses and how, and hash stability."""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillbank.errors import ValidationError
from skillbank.skill import SkillParseError, SkillVersion, extract_function, load_time_problems, parse_skill

GOOD = textwrap.dedent(
    '''
    """Module docstring."""
    import json
    from collections import Counter

    def _norm(s):
        return s.strip().lower()

    def count_words(text: str, top: int = 3, *, sep: str | None = None) -> list[tuple[str, int]]:
        """Count words in text."""
        return Counter(_norm(w) for w in text.split(sep)).most_common(top)
    '''
)


def test_parse_extracts_name_signature_docstring_imports_helpers() -> None:
    sv = parse_skill(GOOD)
    assert isinstance(sv, SkillVersion)
    assert sv.name == "count_words"
    assert sv.signature == "def count_words(text: str, top: int = 3, *, sep: str | None = None) -> list[tuple[str, int]]"
    assert sv.return_annotation == "list[tuple[str, int]]"
    assert sv.docstring == "Count words in text."
    assert sv.imports == ("import json", "from collections import Counter")
    assert sv.helpers == ("_norm",)
    assert [(p.name, p.kind, p.annotation, p.default) for p in sv.parameters] == [
        ("text", "positional_or_keyword", "str", None),
        ("top", "positional_or_keyword", "int", "3"),
        ("sep", "keyword_only", "str | None", "None"),
    ]
    assert [p.required for p in sv.parameters] == [True, False, False]
    assert sv.source == GOOD
    assert sv.content_hash.startswith("sha256:") and len(sv.content_hash) == 7 + 64


def test_input_schema_maps_annotations() -> None:
    schema = parse_skill(GOOD).input_schema
    assert schema == {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "top": {"type": "integer", "default": 3},
            "sep": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["text"],
        "additionalProperties": False,
    }
    lit = parse_skill("from typing import Literal, Optional\ndef f(m: Literal['a', 'b'], x: Optional[dict[str, float]] = None): pass")
    assert lit.input_schema["properties"]["m"] == {"enum": ["a", "b"]}
    assert lit.input_schema["properties"]["x"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "number"}}
    # Annotations with no JSON equivalent, and *args, give no schema rather than a wrong one.
    assert parse_skill("def f(x: 'Widget'): pass").input_schema is None
    assert parse_skill("def f(*xs: int): pass").input_schema is None
    assert parse_skill("def f(x): pass").input_schema["properties"] == {"x": {}}


def test_signature_marks_positional_only_and_varargs() -> None:
    sv = parse_skill("def f(a, /, b: int = 1, *args, c, d=2, **kw) -> None: pass")
    assert sv.signature == "def f(a, /, b: int = 1, *args, c, d=2, **kw) -> None"


def test_bytes_input_and_bom_accepted() -> None:
    assert parse_skill(b"\xef\xbb\xbfdef f():\n    return 1\n").name == "f"


@pytest.mark.parametrize(
    ("source", "fragment", "lineno"),
    [
        ("def f(:\n    pass\n", "syntax error", 1),
        ("import os\n", "no function defined", None),
        ("def f(): pass\n\ndef g(): pass\n", "several public functions (f, g)", 3),
        ("def f(): pass\nx = 1\n", "top-level assignment is not allowed", 2),
        ("def f(): pass\nf()\n", "top-level call is not allowed", 2),
        ("class A: pass\ndef f(): pass\n", "top-level class 'A'", 1),
        ("def ñame(): pass\n", "invalid skill name 'ñame'", 1),
        ("def print(): pass\n", "shadows a Python builtin", 1),
        ("def _only(): pass\n", "no public function", 1),
        ("async def f(): pass\n", "async function 'f'", 1),
        ("def f(): pass\ndef _h(): pass\ndef _h(): pass\n", "'_h' is defined twice", 3),
        ("", "source is empty", None),
        ("  \n\t\n", "source is empty", None),
    ],
)
def test_bad_sources_raise_located_errors(source: str, fragment: str, lineno: int | None) -> None:
    with pytest.raises(SkillParseError) as info:
        parse_skill(source)
    err = info.value
    assert isinstance(err, ValidationError)
    assert fragment in str(err)
    assert err.lineno == lineno
    if lineno is not None:
        assert str(err).startswith(f"line {lineno}, column {err.col}: ")
    assert "\n" not in str(err)


def test_not_utf8_and_oversize() -> None:
    with pytest.raises(SkillParseError, match="not valid UTF-8"):
        parse_skill(b"def f():\n    return '\xff'\n")
    body = "def f():\n    return 1\n" + "# pad\n" * 20
    assert parse_skill(body, max_bytes=len(body)).name == "f"
    with pytest.raises(SkillParseError, match=rf"{len(body)} bytes, over the {len(body) - 1}-byte limit"):
        parse_skill(body, max_bytes=len(body) - 1)
    with pytest.raises(SkillParseError, match="65536-byte limit"):
        parse_skill("def f():\n    return 1\n" + "#" * 70000)


def test_hash_ignores_formatting_and_comments_but_not_behaviour() -> None:
    a = parse_skill("def f(a, b=1):\n    # add\n    return a + b\n")
    b = parse_skill("def f(a,b = 1):   return (a+b)  # same thing\n")
    c = parse_skill("def f(a, b=2):\n    return a + b\n")
    assert a.content_hash == b.content_hash
    assert a.content_hash != c.content_hash


CODE_BLOCK = textwrap.dedent(
    """
    import json
    from math import sqrt
    data = apis.spotify.show_songs(page_index=0)

    def _score(song):
        return _weight(song) * 2

    def _weight(song):
        return sqrt(song["plays"])

    def _unused():
        return 0

    def other_skill(x):
        return x

    def best_song(songs: list) -> dict:
        \"\"\"The song with the top score.\"\"\"
        return max(songs, key=_score)

    print(best_song(data))
    """
)


def test_extract_function_keeps_imports_and_transitive_helpers() -> None:
    out = extract_function(CODE_BLOCK, "best_song")
    sv = parse_skill(out)
    assert sv.name == "best_song"
    assert set(sv.helpers) == {"_score", "_weight"}
    assert sv.imports == ("import json", "from math import sqrt")
    assert "_unused" not in out and "other_skill" not in out and "print(" not in out and "data =" not in out
    assert "\ndef best_song" in out
    # helpers keep the block's order and the original formatting
    assert out.index("def _score") < out.index("def _weight") < out.index("def best_song")
    assert 'return sqrt(song["plays"])' in out


@pytest.mark.parametrize("source, what", [
    ("def _log(f):\n    return f\n\n@_log\ndef skill():\n    return 1\n", "decorator on 'skill'"),
    ("def skill(x=apis.supervisor.complete_task()):\n    return x\n", "default value"),
    ("def skill(x=[_n for _n in range(3)]):\n    return x\n", "default value"),
    ("def skill(x: apis.supervisor.complete_task() = 1):\n    return x\n", "annotation"),
    ("def skill() -> (lambda: 1)():\n    return 1\n", "annotation"),
    ("def skill(*, x: list[(y := 1)] = None):\n    return x\n", "annotation"),
    ("def _h(x=print('loaded')):\n    return x\n\ndef skill():\n    return _h()\n", "default value"),
])
def test_a_skill_whose_definition_would_run_code_is_refused(source: str, what: str) -> None:
    # Defining a skill in another agent's run must run no code of the skill's own:
    # decorators, defaults and annotations are evaluated at definition time.
    with pytest.raises(SkillParseError, match=re.escape(what)):
        parse_skill(source)
    assert load_time_problems(source) and what in load_time_problems(source)[0]


def test_inert_definitions_pass_the_load_time_rule() -> None:
    source = ("import json\n\ndef skill(a: list[str] | None = None, *, b: dict = {}, c=-1.5, d=(1, 'x'), "
              "e: 'typing.Any' = None) -> dict[str, int]:\n    return {}\n")
    assert parse_skill(source).name == "skill" and load_time_problems(source) == []
    assert load_time_problems("x = apis.a.b()\ndef skill():\n    pass\n")[0].startswith("line 1: top-level assignment")


def test_extract_function_takes_the_last_definition_and_refuses_missing_or_private() -> None:
    code = "def f():\n    return 1\nf()\ndef f():\n    return 2\n"
    assert "return 2" in extract_function(code, "f") and "return 1" not in extract_function(code, "f")
    with pytest.raises(SkillParseError, match="no top-level function 'g'"):
        extract_function(code, "g")
    with pytest.raises(SkillParseError, match="private helper"):
        extract_function("def _h(): pass\n", "_h")
    with pytest.raises(SkillParseError, match="syntax error"):
        extract_function("def f(:\n", "f")


def test_skill_version_is_immutable() -> None:
    sv = parse_skill(GOOD)
    with pytest.raises(AttributeError):
        sv.name = "other"  # type: ignore[misc]
    schema = sv.input_schema
    schema["properties"].clear()
    assert sv.input_schema["properties"]  # a fresh copy each time


# -- properties ---------------------------------------------------------------------

_ident = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s not in dir(builtins) and s not in ("apis",)
)
_annot = st.sampled_from([None, "int", "str", "float", "bool", "list[int]", "dict[str, int]", "int | None"])
_default = st.sampled_from([None, "0", "'x'", "None", "(1, 2)", "[]"])
_expr = st.sampled_from(["a + 1", "len(str(a))", "[x for x in range(3)]", "{'k': a}", "a if a else None", "not a"])


@st.composite
def functions(draw: st.DrawFn) -> str:
    name = draw(_ident)
    params = draw(st.lists(_ident.filter(lambda p: p != name), min_size=1, max_size=4, unique=True))
    parts, seen_default = [], False
    for p in params:
        ann = draw(_annot)
        default = draw(_default)
        if seen_default and default is None:
            default = "None"
        seen_default = seen_default or default is not None
        text = p + (f": {ann}" if ann else "") + ((" = " if ann else "=") + default if default else "")
        parts.append(text)
    ret = draw(_annot)
    doc = draw(st.one_of(st.none(), st.text(alphabet="abc xyz", min_size=1, max_size=20)))
    body = [f'"""{doc}"""'] if doc and doc.strip() else []
    body += [f"a = {params[0]}", f"return {draw(_expr)}"]
    head = f"def {name}({', '.join(parts)})" + (f" -> {ret}" if ret else "") + ":"
    return head + "\n" + "".join(f"    {line}\n" for line in body)


def _reformat(src: str, indent: int, comment: bool) -> str:
    """A re-formatting that keeps the AST: other indentation, extra blank lines,
    comments, spacing after commas."""
    out = []
    for line in src.splitlines():
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 4
        out.append(" " * (indent * depth) + stripped.replace(", ", " ,  "))
        if comment:
            out.append("# a comment")
        out.append("")
    return "\n\n".join(out) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=functions(), indent=st.integers(1, 8), comment=st.booleans())
def test_generated_functions_parse_and_hash_is_formatting_stable(src: str, indent: int, comment: bool) -> None:
    sv = parse_skill(src)
    assert sv.name == src.split("(")[0].removeprefix("def ")
    again = _reformat(src, indent, comment)
    assert ast.dump(ast.parse(again)) == ast.dump(ast.parse(src))  # the re-formatting really keeps the AST
    assert again != src
    assert parse_skill(again).content_hash == sv.content_hash
    assert parse_skill(again).signature == sv.signature
    # and a change in behaviour is a different hash
    assert parse_skill(src.replace("return", "return 1 or", 1)).content_hash != sv.content_hash


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300),
                      st.builds(lambda a, b: a + b, functions(), st.text(max_size=40))))
def test_arbitrary_input_parses_or_raises_skill_parse_error(text: str | bytes) -> None:
    try:
        sv = parse_skill(text)
    except SkillParseError as exc:
        assert str(exc)
        assert exc.lineno is None or exc.lineno >= 1
    else:
        assert sv.name and sv.content_hash.startswith("sha256:")
