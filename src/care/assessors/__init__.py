"""Assessors: the built-in model, baselines, and (with extras) LLM assessors."""

from care.assessors.base import Assessor
from care.assessors.baselines import LengthAssessor, MeanRatingAssessor
from care.assessors.lite import LiteAssessor

__all__ = ["Assessor", "LengthAssessor", "LiteAssessor", "MeanRatingAssessor"]
