"""Training language models (``care train sft``, ``care cv``, ``care train merge``) and the
cross-validation reports of ``care train lite`` (the built-in model's fitting itself lives
in :mod:`care.assessors.lite.fit`)."""
