"""Command-line entry points for the long runs of the course; each writes results."""
