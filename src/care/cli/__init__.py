"""The ``care`` command line."""
