"""Feature blocks of the built-in model.

A session is tokenised once (per turn); each :class:`BlockSpec` then selects the turns
of one role within one phase of the session (for example the client's turns in the last
fifth) and sums their token counts into one document. The document's TF-IDF vector is
one block of the feature matrix; length features are appended as a dense block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from care.assessors.lite.text import DEFAULT_TOKENIZER, token_counts
from care.assessors.lite.vectorizer import TfidfVocabulary
from care.data.session import Session
from care.features.length import length_matrix, standardize


@dataclass(frozen=True)
class BlockSpec:
    """Which turns make one block, and how much the block weighs.

    Attributes:
        role: Whose turns.
        start, end: The phase ``[start, end)`` of the session, as fractions of its turns.
        last_turns: If set, only the role's last ``last_turns`` turns within the phase.
        weight: Scale of the block's (L2-normalised) TF-IDF vector in the model's input;
            a larger weight is a weaker ridge penalty on the block.
    """

    role: str
    start: float = 0.0
    end: float = 1.0
    last_turns: int | None = None
    weight: float = 1.0

    @property
    def name(self) -> str:
        """A readable name, e.g. ``client``, ``client@0.8-1`` or ``client[-6:]``."""
        name = self.role
        if self.start != 0.0 or self.end != 1.0:
            name += f"@{self.start:g}-{self.end:g}"
        if self.last_turns is not None:
            name += f"[-{self.last_turns}:]"
        return name

    def select(
        self,
        is_role: np.ndarray,
        positions: np.ndarray,
        n_turns: np.ndarray,
        session_of: np.ndarray,
    ) -> np.ndarray:
        """Which of the given turns this block selects (a boolean mask).

        The turns are parallel arrays, of one or many sessions in order: whether the
        turn is the block's role, its position in its session, its session's number of
        turns, and which session it belongs to (non-decreasing).
        """
        relative = positions / np.maximum(1, n_turns)
        inside = (self.start <= relative) & (relative < self.end)
        if self.end == 1.0:
            inside |= relative >= 1.0
        mask = np.asarray(is_role, dtype=bool) & inside
        if self.last_turns is not None:
            chosen = np.flatnonzero(mask)
            sessions = session_of[chosen]
            last = np.searchsorted(sessions, sessions, side="right") - 1
            mask[chosen[last - np.arange(len(chosen)) >= self.last_turns]] = False
        return mask


@dataclass
class TokenizedSession:
    """A session with its per-turn token counts (computed once, used by every block)."""

    session: Session
    language: str
    turn_counts: list[Counter[str]]
    tokenizer: int = DEFAULT_TOKENIZER
    _documents: dict[BlockSpec, Counter[str]] = field(default_factory=dict, repr=False)

    def block_turns(self, block: BlockSpec) -> list[int]:
        """Indices of the turns that ``block`` selects."""
        turns = self.session.turns
        n_turns = len(turns)
        mask = block.select(
            np.array([turn.role == block.role for turn in turns], dtype=bool),
            np.arange(n_turns),
            np.full(n_turns, n_turns),
            np.zeros(n_turns, dtype=np.int64),
        )
        return np.flatnonzero(mask).tolist()

    def block_document(self, block: BlockSpec) -> Counter[str]:
        """Summed token counts of the block's turns (computed once per block)."""
        document = self._documents.get(block)
        if document is None:
            document = Counter()
            for index in self.block_turns(block):
                document.update(self.turn_counts[index])
            self._documents[block] = document
        return document


def tokenize_sessions(
    sessions: Sequence[Session],
    language: str,
    max_n: int = 2,
    tokenizer: int = DEFAULT_TOKENIZER,
) -> list[TokenizedSession]:
    """Tokenise every turn of every session once (``tokenizer``: see
    :mod:`care.assessors.lite.text`)."""
    return [
        TokenizedSession(
            session=session,
            language=language,
            turn_counts=[
                token_counts(turn.text, language, max_n, tokenizer) for turn in session.turns
            ],
            tokenizer=tokenizer,
        )
        for session in sessions
    ]


def fit_vocabularies(
    tokenized: Sequence[TokenizedSession],
    blocks: Sequence[BlockSpec],
    min_df: int,
    max_features: int | None,
) -> list[TfidfVocabulary]:
    """One TF-IDF vocabulary per block, learned from the given sessions."""
    return [
        TfidfVocabulary.fit(
            [item.block_document(block) for item in tokenized],
            min_df=min_df,
            max_features=max_features,
        )
        for block in blocks
    ]


def feature_matrix(
    tokenized: Sequence[TokenizedSession],
    blocks: Sequence[BlockSpec],
    vocabularies: Sequence[TfidfVocabulary],
    dense_mean: np.ndarray,
    dense_scale: np.ndarray,
    dense_weight: float,
) -> sparse.csr_matrix:
    """The model's input: the blocks' TF-IDF rows then the weighted, standardised
    length features."""
    parts = [
        vocabulary.transform([item.block_document(block) for item in tokenized]) * block.weight
        for block, vocabulary in zip(blocks, vocabularies, strict=True)
    ]
    dense = standardize(
        length_matrix([item.session for item in tokenized]), dense_mean, dense_scale
    )
    parts.append(sparse.csr_matrix(dense * dense_weight))
    return sparse.hstack(parts, format="csr")
