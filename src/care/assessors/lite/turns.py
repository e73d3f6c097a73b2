"""A batch of sessions as one sparse turn x token matrix.

Every turn is tokenised once. The tokens of all blocks' vocabularies share one index
(:class:`TokenIndex`), so a batch's token counts are a single ``turns x tokens`` sparse
matrix (:class:`TurnMatrix`); a block's columns are a re-mapping of that index, and a
block's documents are the sums of the rows it selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
from scipy import sparse

from care.assessors.lite.features import BlockSpec
from care.assessors.lite.text import tokenize
from care.assessors.lite.vectorizer import TfidfVocabulary
from care.data.session import Session, Turn


class TokenIndex:
    """One id for every token of any block's vocabulary, and each block's column of it.

    Args:
        vocabularies: The model's vocabularies, one per block.
    """

    def __init__(self, vocabularies: Sequence[TfidfVocabulary]) -> None:
        tokens = dict.fromkeys(chain.from_iterable(v.vocabulary for v in vocabularies))
        self.ids: dict[str, int] = dict(zip(tokens, range(len(tokens)), strict=True))
        self.widths = [len(vocabulary) for vocabulary in vocabularies]
        self.block_columns: list[np.ndarray] = []
        for vocabulary in vocabularies:
            columns = np.full(len(self.ids), -1, dtype=np.int64)
            size = len(vocabulary.vocabulary)
            ids = np.fromiter(map(self.ids.__getitem__, vocabulary.vocabulary), np.int64, size)
            columns[ids] = np.fromiter(vocabulary.vocabulary.values(), np.int64, size)
            self.block_columns.append(columns)

    def __len__(self) -> int:
        return len(self.ids)

    def count_matrix(self, token_lists: Sequence[list[str]]) -> sparse.csr_matrix:
        """Token counts (rows x tokens, canonical CSR) of each list of tokens; tokens in
        no vocabulary are left out."""
        lengths = np.fromiter(map(len, token_lists), np.int64, len(token_lists))
        tokens = list(chain.from_iterable(token_lists))
        ids = np.fromiter(map(self.ids.get, tokens, repeat(-1)), np.int64, len(tokens))
        rows = np.repeat(np.arange(len(token_lists)), lengths)
        known = ids >= 0
        matrix = sparse.csr_matrix(
            (np.ones(int(known.sum())), (rows[known], ids[known])),
            shape=(len(token_lists), len(self.ids)),
        )
        matrix.sum_duplicates()
        return matrix

    def block_counts(self, counts: sparse.csr_matrix, block: int) -> sparse.csr_matrix:
        """``counts`` (rows x tokens) in the columns of block ``block``'s vocabulary."""
        columns = self.block_columns[block][counts.indices]
        kept = columns >= 0
        indptr = np.concatenate([[0], np.cumsum(kept)])[counts.indptr]
        matrix = sparse.csr_matrix(
            (counts.data[kept], columns[kept], indptr),
            shape=(counts.shape[0], self.widths[block]),
        )
        matrix.sort_indices()
        return matrix


@dataclass
class TurnMatrix:
    """A batch of sessions of one language, tokenised once.

    Attributes:
        sessions: The sessions, in order.
        language: Their language.
        counts: Token counts, one row per turn of every session in order (turns x
            :class:`TokenIndex` ids).
        starts: Row of each session's first turn, plus the number of rows (sessions + 1).
        session_of: Session position of each row.
        in_block: Per block of the model, which rows it selects.
    """

    sessions: list[Session]
    language: str
    counts: sparse.csr_matrix
    starts: np.ndarray
    session_of: np.ndarray
    in_block: list[np.ndarray]

    @classmethod
    def build(
        cls,
        sessions: Sequence[Session],
        language: str,
        index: TokenIndex,
        blocks: Sequence[BlockSpec],
        max_n: int,
        tokenizer: int,
    ) -> TurnMatrix:
        """Tokenise every turn of ``sessions`` and select each block's turns."""
        sessions = list(sessions)
        turns = [turn for session in sessions for turn in session.turns]
        sizes = np.fromiter((len(session.turns) for session in sessions), np.int64, len(sessions))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        session_of = np.repeat(np.arange(len(sessions)), sizes)
        positions = np.arange(len(turns)) - starts[session_of]
        n_turns = sizes[session_of]
        counts = index.count_matrix(
            [tokenize(turn.text, language, max_n, tokenizer) for turn in turns]
        )
        roles = [turn.role for turn in turns]
        in_block = [
            block.select(
                np.fromiter((role == block.role for role in roles), bool, len(roles)),
                positions,
                n_turns,
                session_of,
            )
            for block in blocks
        ]
        return cls(sessions, language, counts, starts, session_of, in_block)

    def turn(self, row: int) -> Turn:
        """The turn of row ``row``."""
        position = int(self.session_of[row])
        return self.sessions[position].turns[row - int(self.starts[position])]
