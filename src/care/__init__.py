"""care: assess the client-perceived working alliance of counseling sessions.

Reads session transcripts, predicts the client's ratings on an alliance questionnaire,
and explains each rating with evidence quoted from the dialogue.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
