"""Long runs of the course, as command-line entry points with progress bars.

Each module here runs an experiment too long for a notebook's 90 s budget and
writes its results (CSV and figures) under ``nodecourse/experiments/results/``,
where the chapters load them from::

    python -m nodecourse.experiments.sode_sweep --help

The committed results are re-checked by a test that re-runs a small slice.
"""
