"""The built-in default assessor (``care-lite``)."""

from care.assessors.lite.assessor import LiteAssessor, load_shipped_model, shipped_model_path
from care.assessors.lite.model import LiteConfig, LiteModel

__all__ = ["LiteAssessor", "LiteConfig", "LiteModel", "load_shipped_model", "shipped_model_path"]
