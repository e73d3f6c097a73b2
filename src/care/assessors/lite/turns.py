"""A batch of sessions as one sparse turn x token matrix.

Every turn is tokenised once. The tokens of all blocks' vocabularies share one index
(:class:`~care.assessors.lite.token_index.TokenIndex`), so a batch's token counts are a
single ``turns x tokens`` sparse matrix (:class:`TurnMatrix`); a block's columns are a
re-mapping of that index, and a block's documents are the sums of the rows it selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from care.assessors.lite.features import BlockSpec
from care.assessors.lite.token_index import TokenIndex
from care.data.session import Session, Turn


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
        roles: The role of each row's turn.
        totals: Each row's number of tokens, in a vocabulary or not.
    """

    sessions: list[Session]
    language: str
    counts: sparse.csr_matrix
    starts: np.ndarray
    session_of: np.ndarray
    in_block: list[np.ndarray]
    roles: np.ndarray
    totals: np.ndarray

    @classmethod
    def build(
        cls,
        sessions: Sequence[Session],
        language: str,
        index: TokenIndex,
        blocks: Sequence[BlockSpec],
    ) -> TurnMatrix:
        """Tokenise every turn of ``sessions`` and select each block's turns."""
        sessions = list(sessions)
        turns = [turn for session in sessions for turn in session.turns]
        sizes = np.fromiter((len(session.turns) for session in sessions), np.int64, len(sessions))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        session_of = np.repeat(np.arange(len(sessions)), sizes)
        positions = np.arange(len(turns)) - starts[session_of]
        n_turns = sizes[session_of]
        counts, totals = index.count_with_totals([turn.text for turn in turns], language)
        roles = np.array([turn.role for turn in turns], dtype=str)
        in_block = [
            block.select(
                roles == block.role,
                positions,
                n_turns,
                session_of,
            )
            for block in blocks
        ]
        return cls(sessions, language, counts, starts, session_of, in_block, roles, totals)

    def turn(self, row: int) -> Turn:
        """The turn of row ``row``."""
        position = int(self.session_of[row])
        return self.sessions[position].turns[row - int(self.starts[position])]
