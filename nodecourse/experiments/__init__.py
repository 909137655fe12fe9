"""Long runs of the course, run from the command line with a progress bar.

Each module is an entry point, ``python -m nodecourse.experiments.NAME``, that writes
its results (JSON or CSV, and figures) under ``nodecourse/experiments/results/``;
the chapters load those files instead of training for minutes, and a test re-runs a
slice and compares. Re-running with the defaults replaces the committed files (that
is how they are reproduced); ``--out`` writes elsewhere::

    python -m nodecourse.experiments.sode_sweep --help
"""
