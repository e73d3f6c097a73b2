"""``care evaluate``: how good an assessor is, against whom, with what certainty.

* :mod:`care.evaluate.report`: the engine (:func:`~care.evaluate.report.evaluate`).
* :mod:`care.evaluate.predictions`: reading results files, run stores, folds and
  reference rationales.
* :mod:`care.evaluate.markdown` and :mod:`care.evaluate.html`: the reports.
* :mod:`care.evaluate.rationales`: quote faithfulness, BLEU, ROUGE and BERTScore of
  rationales.

The metrics, bootstrap intervals, client-grouped splits and charts it uses are in
:mod:`care.stats`.
"""
