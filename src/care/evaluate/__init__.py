"""``care evaluate``: how good an assessor is, against whom, with what certainty.

* :mod:`care.evaluate.report`: the engine (:func:`~care.evaluate.report.evaluate`), with
  :mod:`care.evaluate.scoring` (scoring a view) and :mod:`care.evaluate.evaluation`
  (what was found).
* :mod:`care.evaluate.predictions`: reading results files, run stores, folds and
  reference rationales.
* :mod:`care.evaluate.markdown` and :mod:`care.evaluate.html`: the reports.
* :mod:`care.evaluate.rationales`: every rationale metric at once, from
  :mod:`care.evaluate.quotes` (quote faithfulness), :mod:`care.evaluate.overlap` (BLEU,
  ROUGE) and :mod:`care.evaluate.bertscore`.

The metrics, bootstrap intervals, client-grouped splits and charts it uses are in
:mod:`care.stats`.
"""
