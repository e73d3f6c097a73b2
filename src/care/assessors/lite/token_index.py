"""One id for every token of a model's vocabularies, and fast token counting.

The blocks of a model have separate vocabularies; :class:`TokenIndex` gives every token
of any of them one id, so that a batch of texts becomes a single ``texts x tokens``
count matrix, and each block's columns are a re-mapping of those ids.

For tokenizer 2 with bigrams (the shipped models), counting needs no n-gram strings: each
vocabulary token is parsed once into its units (a unigram is one unit, a bigram two, a
boundary bigram ``"<s> x"``/``"x </s>"`` one unit and a boundary mark), a text is split
into units and looked up unit by unit, and its bigrams are found as pairs of unit ids.
The parse is checked with the tokenizer itself; where a token does not parse, and for
small calls before the first large one, counting goes through the tokenizer's strings
(the counts are the same either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np
from scipy import sparse

from care.assessors.lite.text import END, LATIN_START, START, tokenize, units
from care.assessors.lite.vectorizer import TfidfVocabulary

UNIT_TABLE_MIN_TEXTS = 2000
# Joins the texts of a call into one string to split it into units in one pass; a mark
# (a unit of its own) that text practically never holds (checked: else text by text).
_SEPARATOR = "\x00"
_SEPARATOR_ID = -2


class TokenIndex:
    """The union of a model's vocabularies, with each block's column of every token.

    Args:
        vocabularies: The model's vocabularies, one per block.
        max_n: The model's longest n-gram.
        tokenizer: The model's tokenizer.
        min_texts_for_units: Count unit by unit from the first call with at least this
            many texts on (parsing the vocabularies costs about as much as counting a
            few thousand turns through strings).
    """

    def __init__(
        self,
        vocabularies: Sequence[TfidfVocabulary],
        max_n: int,
        tokenizer: int,
        min_texts_for_units: int = UNIT_TABLE_MIN_TEXTS,
    ) -> None:
        tokens = dict.fromkeys(chain.from_iterable(v.vocabulary for v in vocabularies))
        self.ids: dict[str, int] = dict(zip(tokens, range(len(tokens)), strict=True))
        self.max_n = max_n
        self.tokenizer = tokenizer
        self.min_texts_for_units = min_texts_for_units
        self.widths = [len(vocabulary) for vocabulary in vocabularies]
        self.block_columns: list[np.ndarray] = []
        for vocabulary in vocabularies:
            columns = np.full(len(self.ids), -1, dtype=np.int64)
            size = len(vocabulary.vocabulary)
            ids = np.fromiter(map(self.ids.__getitem__, vocabulary.vocabulary), np.int64, size)
            columns[ids] = np.fromiter(vocabulary.vocabulary.values(), np.int64, size)
            self.block_columns.append(columns)
        self._unit_tables: dict[str, _UnitTable | None] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def counts_by_units(self, language: str) -> bool:
        """Whether texts in ``language`` are now counted unit by unit (else through
        n-gram strings)."""
        return self._unit_tables.get(language) is not None

    def _unit_table(self, language: str, n_texts: int) -> _UnitTable | None:
        if language not in self._unit_tables:
            if n_texts < self.min_texts_for_units:
                return None
            usable = self.tokenizer == 2 and self.max_n == 2
            self._unit_tables[language] = _UnitTable.parse(self.ids, language) if usable else None
        return self._unit_tables[language]

    def count(
        self,
        texts: Sequence[str],
        language: str,
        starts_turn: Sequence[bool] | None = None,
        ends_turn: Sequence[bool] | None = None,
    ) -> sparse.csr_matrix:
        """Token counts (texts x tokens, canonical CSR) of each text in ``language``, as by
        :func:`~care.assessors.lite.text.tokenize` (whole turns unless ``starts_turn``
        and ``ends_turn`` say, per text, whether it opens and ends its turn). Tokens in
        no vocabulary are left out."""
        return self.count_with_totals(texts, language, starts_turn, ends_turn)[0]

    def count_with_totals(
        self,
        texts: Sequence[str],
        language: str,
        starts_turn: Sequence[bool] | None = None,
        ends_turn: Sequence[bool] | None = None,
    ) -> tuple[sparse.csr_matrix, np.ndarray]:
        """:meth:`count`, and the number of tokens of each text, known or not (the length
        of its :func:`~care.assessors.lite.text.tokenize` list)."""
        n_texts = len(texts)
        starts = np.ones(n_texts, bool) if starts_turn is None else np.asarray(starts_turn, bool)
        ends = np.ones(n_texts, bool) if ends_turn is None else np.asarray(ends_turn, bool)
        table = self._unit_table(language, n_texts)
        if table is not None:
            rows, ids, n_units = table.tokens(texts, language, starts, ends)
            # tokenizer 2 with bigrams: the units, the bigrams within the text and the
            # turn-boundary bigrams of a text with units
            filled = n_units > 0
            totals = 2 * n_units - filled + (filled & starts) + (filled & ends)
        else:
            token_lists = [
                tokenize(text, language, self.max_n, self.tokenizer, starts_turn=s, ends_turn=e)
                for text, s, e in zip(texts, starts.tolist(), ends.tolist(), strict=True)
            ]
            lengths = np.fromiter(map(len, token_lists), np.int64, n_texts)
            totals = lengths
            flat = list(chain.from_iterable(token_lists))
            ids = np.fromiter(map(self.ids.get, flat, repeat(-1)), np.int64, len(flat))
            rows = np.repeat(np.arange(n_texts), lengths)
            known = ids >= 0
            rows, ids = rows[known], ids[known]
        matrix = sparse.csr_matrix((np.ones(len(ids)), (rows, ids)), shape=(n_texts, len(self.ids)))
        matrix.sum_duplicates()
        return matrix, np.asarray(totals, dtype=np.int64)


class _UnitTable:
    """Vocabulary tokens of tokenizer 2 (with bigrams) as units and pairs of units."""

    def __init__(
        self,
        unit_ids: dict[str, int],
        unigram_tokens: np.ndarray,
        pair_keys: np.ndarray,
        pair_tokens: np.ndarray,
    ) -> None:
        self.unit_ids = unit_ids
        self._lookup = {**unit_ids, _SEPARATOR: _SEPARATOR_ID}
        self.start = len(unit_ids)
        self.end = len(unit_ids) + 1
        self.width = len(unit_ids) + 2
        # one more entry, so that the unit id -1 (no such unit) finds no token
        self.unigram_tokens = np.append(unigram_tokens, -1)
        self.pair_keys = pair_keys
        self.pair_tokens = pair_tokens

    @classmethod
    def parse(cls, ids: dict[str, int], language: str) -> _UnitTable | None:
        """The table of ``ids``' tokens, or None where a token does not parse."""
        parsed = _parse_tokens(list(ids), language)
        if parsed is None:
            return None
        unit_ids: dict[str, int] = {}
        for pieces in parsed:
            for unit in pieces:
                if unit is not None:
                    unit_ids.setdefault(unit, len(unit_ids))
        start, end, width = len(unit_ids), len(unit_ids) + 1, len(unit_ids) + 2
        unigram_tokens = np.full(len(unit_ids), -1, dtype=np.int64)
        keys, tokens = [], []
        for pieces, token_id in zip(parsed, ids.values(), strict=True):
            if len(pieces) == 1:
                unigram_tokens[unit_ids[pieces[0]]] = token_id
                continue
            first, second = pieces
            keys.append(
                (start if first is None else unit_ids[first]) * width
                + (end if second is None else unit_ids[second])
            )
            tokens.append(token_id)
        key_array = np.array(keys, dtype=np.int64)
        order = np.argsort(key_array)
        return cls(unit_ids, unigram_tokens, key_array[order], np.array(tokens, np.int64)[order])

    def _units(self, texts: Sequence[str], language: str) -> tuple[np.ndarray, np.ndarray]:
        """The unit ids of all ``texts`` in order (-1: in no token), and each text's
        number of units."""
        joined = _SEPARATOR.join(texts)
        if _SEPARATOR in self.unit_ids or joined.count(_SEPARATOR) != len(texts) - 1:
            found = [units(text, language) for text in texts]
            flat = list(chain.from_iterable(found))
            unit = np.fromiter(map(self.unit_ids.get, flat, repeat(-1)), np.int64, len(flat))
            return unit, np.fromiter(map(len, found), np.int64, len(found))
        # one pass over all texts: the separator is a unit of its own (a mark), so the
        # texts' units are the joined text's units between separators
        flat = units(joined, language)
        unit = np.fromiter(map(self._lookup.get, flat, repeat(-1)), np.int64, len(flat))
        separators = np.flatnonzero(unit == _SEPARATOR_ID)
        lengths = np.diff(np.concatenate([[-1], separators, [len(flat)]])) - 1
        return unit[unit != _SEPARATOR_ID], lengths

    def tokens(
        self, texts: Sequence[str], language: str, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and token id of every occurrence of a vocabulary token in ``texts``, and
        each text's number of units."""
        unit, lengths = self._units(texts, language)
        rows = np.repeat(np.arange(len(texts)), lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        unigram = self.unigram_tokens[unit]
        # bigrams within a text, and the boundary bigrams of texts that open/end a turn
        within = (rows[:-1] == rows[1:]) & (unit[:-1] >= 0) & (unit[1:] >= 0)
        filled = lengths > 0
        opening = filled & starts
        closing = filled & ends
        first = unit[offsets[:-1][opening]]
        last = unit[offsets[1:][closing] - 1]
        keys = np.concatenate(
            [
                unit[:-1][within] * self.width + unit[1:][within],
                self.start * self.width + first[first >= 0],
                last[last >= 0] * self.width + self.end,
            ]
        )
        pair_rows = np.concatenate(
            [
                rows[:-1][within],
                np.flatnonzero(opening)[first >= 0],
                np.flatnonzero(closing)[last >= 0],
            ]
        )
        at = np.searchsorted(self.pair_keys, keys)
        at[at == len(self.pair_keys)] = 0
        hit = self.pair_keys[at] == keys if len(self.pair_keys) else np.zeros(len(keys), bool)
        known = unigram >= 0
        return (
            np.concatenate([rows[known], pair_rows[hit]]),
            np.concatenate([unigram[known], self.pair_tokens[at[hit]]]),
            lengths,
        )


def _parse_tokens(tokens: list[str], language: str) -> list[tuple[str | None, ...]] | None:
    """Each tokenizer-2 token as its units: ``(unit,)`` for a unigram, ``(first,
    second)`` for a bigram, with None for the boundary of a turn; None if any token does
    not parse. The parse is checked by tokenising all the units again at once."""
    parsed: list[tuple[str | None, ...]] = []
    opening, closing = f"{START} ", f" {END}"
    for token in tokens:
        if token.startswith(opening):
            parsed.append((None, token[len(opening) :]))
        elif token.endswith(closing):
            parsed.append((token[: -len(closing)], None))
        elif " " in token:
            first, _, second = token.partition(" ")
            parsed.append((first, second))
        elif len(token) == 2 and not (set(token) & LATIN_START):
            parsed.append((token[0], token[1]))  # two characters that join without a space
        else:
            parsed.append((token,))
    regular = [
        (pieces, token)
        for pieces, token in zip(parsed, tokens, strict=True)
        if len(pieces) == 2 and None not in pieces
    ]
    expected_units = [unit for pieces in parsed for unit in pieces if unit is not None]
    expected_units += [unit for pieces, _ in regular for unit in pieces]
    # every unit on its own, then every pair: units(...) must give back exactly these
    # units, and the pairs' bigrams must be the tokens
    text = " ".join(expected_units)
    grams = tokenize(text, language, 2, 2, starts_turn=False, ends_turn=False)
    if grams[: len(expected_units)] != expected_units:
        return None
    bigrams = grams[len(expected_units) :]
    paired_from = len(expected_units) - 2 * len(regular)
    for number, (_, token) in enumerate(regular):
        if bigrams[paired_from + 2 * number] != token:
            return None
    return parsed
