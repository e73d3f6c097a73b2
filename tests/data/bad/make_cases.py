"""Write the bad-input corpus: one small file per case and cases.json, its manifest.

Each case in cases.json names its file, the exit code every command that reads sessions
must give for it, the words its one-line error must contain, and the private texts (from
the file's transcript, speakers or keys) the error must never contain. Run it from the
repository root after changing a case:

    python tests/data/bad/make_cases.py
"""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
SECRET = "I never told anyone about the river"
"""A transcript line in the cases; no error message may repeat it."""


def _turns(*texts: str) -> list[dict[str, str]]:
    roles = ["counselor", "client"]
    return [{"role": roles[i % 2], "text": text} for i, text in enumerate(texts)]


def _session(**fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": "s1",
        "turns": _turns("How was your week?", SECRET),
    }
    record.update(fields)
    return record


def _line(record: object) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def _with_meta_text(meta: str) -> bytes:
    base = json.dumps(_session())[:-1]
    return (base + f', "meta": {meta}}}\n').encode("utf-8")


GOOD_LINE = _line(_session())
CASES: list[dict[str, object]] = []


def case(name: str, file: str, content: bytes, words: list[str], private: list[str] | None = None):
    """Add a case: ``file`` (in this folder) holds ``content``; the error names ``words``."""
    CASES.append(
        {
            "name": name,
            "file": file,
            "content": content,
            "exit": 2,
            "words": [file, *words],
            "private": [SECRET, *(private or [])],
        }
    )


# -- JSON the parser cannot take -------------------------------------------------------------
case(
    "5,000-digit integer",
    "big_integer.jsonl",
    _with_meta_text("9" * 5000),
    ["line 1", "5000 digits", "too large"],
)
case(
    "integer too large for a float rating",
    "big_rating.jsonl",
    _line(_session(ratings=[{"instrument": "wai-sr-client", "values": {"item1": 10**400}}])),
    ["line 1", "401 digits"],
)
case(
    "float overflow",
    "float_overflow.json",
    json.dumps(_session()).replace('"s1"', '"s1", "meta": {"x": 1e999}').encode(),
    ["too large", "Fix:"],
)
case(
    "nesting 5,000 deep",
    "deep_nesting.jsonl",
    _with_meta_text(_nested(5000)),
    ["line 1", "nested more than 64 levels"],
)
case(
    "nesting 200 deep (parses, still too deep)",
    "deep_nesting_200.jsonl",
    _with_meta_text(_nested(200)),
    ["line 1", "nested more than 64 levels"],
)
case(
    "top-level arrays nested 5,000 deep",
    "deep_array.json",
    ("[" * 5000 + "]" * 5000).encode(),
    ["nested more than 64 levels"],
)
case(
    "lone surrogate in a turn",
    "lone_surrogate.jsonl",
    GOOD_LINE.replace(b"the river", b"the river \\ud800"),
    ["line 1", "turns[1].text", "lone surrogate"],
)
case(
    "lone surrogate in meta",
    "lone_surrogate_meta.jsonl",
    _with_meta_text('{"note": "x\\udc00y"}'),
    ["line 1", "meta.note", "lone surrogate"],
)
# -- language ---------------------------------------------------------------------------------
case(
    "language that is a path",
    "language_path.jsonl",
    _line(_session(language="../../../etc/passwd")),
    ["line 1", "'language'", "not a language code"],
    ["passwd"],
)
case(
    "unknown language code",
    "language_unknown.jsonl",
    _line(_session(language="xx")),
    ["line 1", "'language'", "unknown language 'xx'", "en, zh, ja"],
)
case(
    "language column with a path in a CSV",
    "language_path.csv",
    f"session_id,role,text,language\ns1,counselor,Hello.,../x\ns1,client,{SECRET},../x\n".encode(),
    ["language", "not a language code"],
)
# -- misleading messages ----------------------------------------------------------------------
case(
    "pretty-printed JSON saved as .jsonl",
    "pretty_printed.jsonl",
    (json.dumps(_session(), indent=2) + "\n").encode(),
    ["line 1", "pretty-printed", "not JSON Lines", ".json"],
)
case(
    "pretty-printed and truncated .jsonl",
    "pretty_truncated.jsonl",
    json.dumps(_session(), indent=2).encode()[:-20],
    ["line 1", "pretty-printed", "not valid JSON"],
)
case(
    "UTF-16 little-endian without a BOM",
    "utf16le_no_bom.jsonl",
    GOOD_LINE.decode().encode("utf-16-le"),
    ["UTF-16-LE", "--encoding utf-16-le"],
)
case(
    "UTF-16 big-endian without a BOM",
    "utf16be_no_bom.txt",
    f"Counselor: Hello.\nClient: {SECRET}\n".encode("utf-16-be"),
    ["UTF-16-BE", "--encoding utf-16-be"],
)
case(
    "UTF-16 with a BOM but odd bytes",
    "utf16_broken.jsonl",
    codecs.BOM_UTF16_LE + GOOD_LINE.decode().encode("utf-16-le")[:-3] + b"\x00\xd8",
    ["byte-order mark", "not valid UTF-16"],
)
case(
    "NUL bytes in a text file",
    "nul_bytes.txt",
    f"Counselor: Hello.\x00\nClient: {SECRET}\n".encode(),
    ["line 1", "NUL"],
)
case(
    "CSV without a header",
    "csv_no_header.csv",
    f"counselor,Hello there.\nclient,{SECRET}\n".encode(),
    ["row 1", "header", "--column text=HEADER", "--column role=HEADER"],
    ["Hello there"],
)
case(
    "CSV without a role column",
    "csv_no_role.csv",
    f"session_id,who,text\ns1,counselor,Hello.\ns1,client,{SECRET}\n".encode(),
    ["row 1", "'role' or 'speaker' column", "--column role=HEADER"],
)
case(
    "CSV role cell holding an utterance",
    "csv_role_is_text.csv",
    f"session_id,role,text\ns1,counselor,Hello.\ns1,{SECRET},client\n".encode(),
    ["row 3", "unknown role", "--speaker"],
)
case(
    "CSV rating cell holding text",
    "csv_turn_index_text.csv",
    f"session_id,role,text,turn_index\ns1,counselor,Hello.,0\ns1,client,{SECRET},{SECRET}\n".encode(),
    ["row 3", "turn index is not a number"],
)
case(
    "CSV turn index that overflows",
    "csv_turn_index_huge.csv",
    f"session_id,role,text,turn_index\ns1,counselor,Hello.,0\ns1,client,{SECRET},1e999\n".encode(),
    ["row 3", "turn index is not a number"],
)
case(
    "CSV meta cell nested too deep",
    "csv_meta_deep.csv",
    (
        "session_id,role,text,meta\ns1,counselor,Hello.,\n"
        f's1,client,{SECRET},"{_nested(100).replace(chr(34), chr(34) * 2)}"\n'
    ).encode(),
    ["row 3", "meta", "not a JSON object"],
)
case(
    "unknown role that is a sentence",
    "unknown_role.jsonl",
    _line({"id": "s1", "turns": [{"role": SECRET, "text": "Hello."}]}),
    ["line 1", "turns[0].role", "unknown role"],
)
case(
    "unknown key that is a sentence",
    "unknown_key.jsonl",
    _line({**_session(), "Tell me about the river": 1}),
    ["line 1", "unknown key '<key>'", "meta"],
    ["Tell me about the river"],
)
case(
    "unknown speaker that is a name",
    "unknown_speaker.txt",
    f"Counselor: Hello.\nDr. Quentin Marsh: {SECRET}\nClient: Fine.\n".encode(),
    ["line 2", "unknown speaker", "--speaker 'LABEL=ROLE'"],
    ["Quentin", "Marsh"],
)
case(
    "ESConv speaker that is a sentence",
    "esconv_speaker.json",
    json.dumps(
        [{"dialog": [{"speaker": "Who is this", "text": SECRET}], "emotion_type": "x"}]
    ).encode(),
    ["record 1", "unknown speaker"],
    ["Who is this"],
)
case(
    "KokoroChat role that is a sentence",
    "kokorochat_role.jsonl",
    _line({"session_id": "k1", "dialogue": [{"role": "the river", "content": SECRET}]}),
    ["line 1", "dialogue[0].role", "unknown role"],
    ["the river"],
)
case(
    "AnnoMI interlocutor that is a name",
    "annomi_interlocutor.csv",
    (
        "transcript_id,utterance_id,interlocutor,utterance_text\n"
        f"1,0,therapist,Hello.\n1,1,Quentin Marsh,{SECRET}\n"
    ).encode(),
    ["row 3", "unknown interlocutor"],
    ["Quentin"],
)
case(
    "rating that is a text",
    "rating_text.jsonl",
    _line(_session(ratings=[{"instrument": "wai-sr-client", "values": {"item1": SECRET}}])),
    ["line 1", "ratings[0].values.item1", "not a number"],
)
case(
    "rating off the instrument's scale",
    "rating_off_scale.jsonl",
    _line(_session(ratings=[{"instrument": "wai-sr-client", "values": {"item1": 99}}])),
    ["line 1", "ratings[0].values.item1", "outside the scale 1-5"],
)
case(
    "rating for an item the instrument lacks",
    "rating_unknown_item.jsonl",
    _line(_session(ratings=[{"instrument": "wai-sr-client", "values": {"item99": 3}}])),
    ["line 1", "ratings[0].values.item99", "no item"],
)
case(
    "unknown instrument",
    "unknown_instrument.jsonl",
    _line(_session(ratings=[{"instrument": "wai-nope", "values": {"item1": 3}}])),
    ["line 1", "unknown instrument 'wai-nope'"],
)
# -- broken files -----------------------------------------------------------------------------
case("empty file", "empty.jsonl", b"", ["the file is empty"])
case("only whitespace", "whitespace.txt", b" \n\t\n", ["the file is empty"])
case(
    "truncated JSON Lines",
    "truncated.jsonl",
    GOOD_LINE[:40],
    ["line 1", "invalid JSON"],
)
case(
    "Python dict instead of JSON",
    "python_repr.jsonl",
    repr(_session()).encode() + b"\n",
    ["line 1", "invalid JSON"],
)
case(
    "raw control character in a JSON string",
    "control_character.jsonl",
    GOOD_LINE.replace(b"the river", b"the\x01river"),
    ["line 1", "invalid JSON", "control character"],
)
case(
    "truncated gzip",
    "truncated.jsonl.gz",
    gzip.compress(GOOD_LINE * 20)[:30],
    ["gzip", "corrupt or truncated"],
)
case(
    "spreadsheet saved as .csv",
    "spreadsheet.csv",
    b"PK\x03\x04" + b"\x00" * 60,
    ["ZIP archive", "export the sheet as CSV"],
)
case(
    "Latin-1 text",
    "latin1.txt",
    f"Counselor: Ça va?\nClient: {SECRET} é\n".encode("latin-1"),
    ["not UTF-8", "--encoding"],
)
case("session without turns", "no_turns.jsonl", _line({"id": "s1", "turns": []}), ["turns"])
case(
    "turn without text",
    "no_text.jsonl",
    _line({"id": "s1", "turns": [{"role": "client", "text": "  "}]}),
    ["line 1", "turns[0].text", "no text"],
)
case(
    "session without id",
    "no_id.jsonl",
    _line({"turns": _turns("Hello.", SECRET)}),
    ["line 1", "'id'", "missing session id"],
)
case(
    "id that is a list",
    "id_list.jsonl",
    _line(_session(id=[SECRET])),
    ["line 1", "'id'", "must be a string"],
)
case(
    "newer schema version",
    "schema_version.jsonl",
    _line(_session(schema_version=99)),
    ["line 1", "schema_version"],
)
case(
    "a record that is not an object",
    "not_object.jsonl",
    b'[1, 2, 3]\n{"id": "s1", "turns": [{"role": "client", "text": "Hi"}]}\n',
    ["cannot tell the format", "not an object"],
)
case(
    "JSON of no known format",
    "unknown_json.json",
    json.dumps({"conversation": [SECRET]}).encode(),
    ["cannot tell the format", "--format"],
)
case(
    "JSON array of numbers",
    "numbers.json",
    b"[1, 2, 3]",
    ["cannot tell the format", "not an object"],
)
case(
    "text with no speakers and no known name",
    "notes.dat",
    f"{SECRET}\nand then nothing more.\n".encode(),
    ["cannot tell the format", "--format"],
)
case(
    "JSON array without sessions",
    "no_sessions.json",
    b'{"sessions": []}\n',
    ["holds no sessions"],
)
case(
    "CSV with a header only",
    "header_only.csv",
    b"session_id,role,text\n",
    ["holds no sessions"],
)
case(
    "duplicate session id in one file",
    "duplicate_ids.jsonl",
    GOOD_LINE + GOOD_LINE,
    ["line 2", "duplicate session id 's1'", "line 1"],
)
case(
    "directory without session files",
    "no_sessions_dir",
    b"",
    ["holds no session files"],
)


def main() -> None:
    manifest = []
    for entry in CASES:
        path = HERE / str(entry["file"])
        if entry["file"] == "no_sessions_dir":
            path.mkdir(exist_ok=True)
            (path / "README.md").write_text("Not a session file.\n", encoding="utf-8")
        else:
            path.write_bytes(entry["content"])  # type: ignore[arg-type]
        manifest.append({key: value for key, value in entry.items() if key != "content"})
    (HERE / "cases.json").write_text(
        json.dumps({"secret": SECRET, "cases": manifest}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {len(manifest)} cases")


if __name__ == "__main__":
    main()
