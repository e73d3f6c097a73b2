"""Writes the small evaluation fixtures in this folder (run by hand: python make_fixtures.py).

gold.jsonl         24 English sessions of 8 clients (3 each) with the client's WAI-SR ratings;
                   even-numbered sessions also carry the counselor's WAI-SR counselor form, every
                   third session an observer's WAI-O-S (1-7, items 4 and 10 reverse keyed).
pred_good.jsonl    close predictions (noise within +-0.5), meta.fold = client number % 4, and a
                   "goal" rationale quoting the client; session s00's rationale also quotes a
                   sentence that is not in the transcript (so 24 of 25 quotes are verbatim).
pred_weak.jsonl    weak predictions shrunk towards 3 with more noise, no folds.
pred_good_cut.jsonl predictions "made on the first 80% of turns" (meta.cut = 0.8).
references.jsonl   reference rationales for s00-s05: identical to pred_good's for s00-s02,
                   unrelated for s03-s05.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ITEMS = [f"item{i}" for i in range(1, 13)]
GOALS = ["sleep better", "talk to my sister", "find a new job", "stop worrying at night"]


def clip(value: float, low: float = 1.0, high: float = 5.0) -> float:
    return min(max(value, low), high)


def truth(n: int) -> dict[str, float]:
    client = n // 3
    base = 1 + ((client * 7 + n * 3) % 9) / 2
    return {item: clip(round(base + ((i * 5 + n) % 3) - 1)) for i, item in enumerate(ITEMS)}


def session(n: int) -> dict:
    values = truth(n)
    goal = GOALS[n % 4]
    turns = [
        {"role": "counselor", "text": "What would you like to work on today?"},
        {"role": "client", "text": f"I really want to {goal}. It has been hard lately."},
        {"role": "counselor", "text": "That sounds important. What have you tried so far?"},
        {"role": "client", "text": "Not much, honestly. I keep putting it off."},
        {"role": "counselor", "text": "Let's make a small plan together for this week."},
        {"role": "client", "text": "Okay. Thank you, that helps."},
    ]
    ratings = [{"instrument": "wai-sr-client", "rater": "client", "values": values}]
    if n % 2 == 0:
        counselor = {k: clip(v + ((n + i) % 3) - 1) for i, (k, v) in enumerate(values.items())}
        ratings.append(
            {"instrument": "wai-sr-counselor", "rater": "counselor", "values": counselor}
        )
    if n % 3 == 0:
        observer = {k: float(round(1 + (v - 1) * 1.5)) for k, v in values.items()}
        for reverse in ("item4", "item10"):
            observer[reverse] = 8.0 - observer[reverse]  # reverse keyed: stored as rated
        ratings.append({"instrument": "wai-o-s", "rater": "observer", "values": observer})
    return {
        "schema_version": 1,
        "id": f"s{n:02d}",
        "language": "en",
        "client_id": f"c{n // 3}",
        "counselor_id": f"t{n % 2}",
        "turns": turns,
        "ratings": ratings,
    }


def result(n: int, values: dict[str, float], model: str, meta: dict, rationale: str | None) -> dict:
    record = {
        "schema_version": 1,
        "session_id": f"s{n:02d}",
        "instrument": "wai-sr-client",
        "model": model,
        "model_version": "1",
        "language": "en",
        "items": {k: {"value": round(v, 3)} for k, v in values.items()},
        "rationales": {"goal": rationale} if rationale else {},
        "meta": meta,
    }
    return record


def rationale(n: int) -> str:
    text = f"Goal is clear: the client says \u201cI really want to {GOALS[n % 4]}\u201d."
    if n == 0:
        text += " Later: \u201cI will definitely come back next week\u201d."
    return text


def main() -> None:
    sessions = [session(n) for n in range(24)]
    write("gold.jsonl", sessions)
    good, weak, cut = [], [], []
    for n in range(24):
        t = truth(n)
        good_values = {
            k: clip(v + ((n * 13 + i * 7) % 11 - 5) / 10) for i, (k, v) in enumerate(t.items())
        }
        weak_values = {
            k: clip(3 + 0.3 * (v - 3) + ((n * 17 + i * 3) % 9 - 4) / 5)
            for i, (k, v) in enumerate(t.items())
        }
        cut_values = {
            k: clip(v + ((n * 7 + i * 5) % 13 - 6) / 6) for i, (k, v) in enumerate(t.items())
        }
        good.append(result(n, good_values, "good-model", {"fold": (n // 3) % 4}, rationale(n)))
        weak.append(result(n, weak_values, "weak-model", {}, None))
        cut.append(result(n, cut_values, "good-model-cut", {"cut": 0.8}, None))
    write("pred_good.jsonl", good)
    write("pred_weak.jsonl", weak)
    write("pred_good_cut.jsonl", cut)
    references = []
    for n in range(6):
        text = rationale(n) if n < 3 else "The counselor mostly talked about the weather."
        references.append({"session_id": f"s{n:02d}", "rationales": {"goal": text}})
    write("references.jsonl", references)


def write(name: str, records: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
