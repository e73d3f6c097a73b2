"""Sessions as data: the session model, corpora, and reading and writing session files."""

from care.data.corpus import Corpus
from care.data.io import load_corpus, read_sessions, save_corpus
from care.data.language import detect_language
from care.data.session import RatingSet, Session, Turn

__all__ = [
    "Corpus",
    "RatingSet",
    "Session",
    "Turn",
    "detect_language",
    "load_corpus",
    "read_sessions",
    "save_corpus",
]
