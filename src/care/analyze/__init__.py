"""Corpus analysis: what drives alliance across many sessions (``care analyze``).

* :mod:`~care.analyze.distributions` - the session table (scores joined with counselor,
  client and date) and the distribution of each item and dimension score;
* :mod:`~care.analyze.profiles` - counselor profiles with cluster-bootstrap CIs and client
  trajectories across dated sessions;
* :mod:`~care.analyze.dynamics` - growing windows within a session and drops (possible
  ruptures);
* :mod:`~care.analyze.patterns` - counselor-label -> next-label pair frequencies and the OLS
  of session alliance on them, clustered by client;
* :mod:`~care.analyze.themes` - themes of the evidence and rationales of low scores;
* :mod:`~care.analyze.ppi` - prediction-powered inference (PPI++) of means and OLS
  coefficients, clustered by client; :mod:`~care.analyze.ppi_corpus` - its corpus, counselor
  and pattern estimates from rated sessions (``--rated``), :mod:`~care.analyze.ppi_html` -
  their report section;
* :mod:`~care.analyze.report` - CSV/JSON tables and the HTML report.

Every function works on :class:`~care.results.Assessments` from any assessor.
"""

from care.analyze.distributions import score_distributions, session_table
from care.analyze.dynamics import find_drops, session_windows
from care.analyze.patterns import PatternResult, pair_frequencies, pattern_regression
from care.analyze.profiles import client_trajectories, counselor_profiles
from care.analyze.themes import ThemeResult, find_themes

__all__ = [
    "PatternResult",
    "ThemeResult",
    "client_trajectories",
    "counselor_profiles",
    "find_drops",
    "find_themes",
    "pair_frequencies",
    "pattern_regression",
    "score_distributions",
    "session_table",
    "session_windows",
]
