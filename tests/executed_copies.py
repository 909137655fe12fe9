"""Repair the executed notebooks that `jupyter-book build` leaves in _build.

`make test` compares a second execution of every notebook (nbval) with the first,
which the book build saved under _build/jupyter_execute. With `nb_merge_streams`,
MyST-NB 1.x merges a cell's stream outputs for display by appending every later
stream's text to the first stream of the same name, in place, and then saves the
notebook with the later streams still there: their text appears twice. This
script drops those later copies, so each saved cell holds what its page shows.

Usage: python tests/executed_copies.py _build/jupyter_execute/chapters
"""

import sys
from pathlib import Path

import nbformat


def drop_repeated_streams(nb) -> int:
    """Keep only the first stream output of each name in every code cell."""
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        seen, kept = set(), []
        for output in cell.outputs:
            if output.output_type == "stream":
                if output.name in seen:
                    dropped += 1
                    continue
                seen.add(output.name)
            kept.append(output)
        cell.outputs = kept
    return dropped


def main(folder: str) -> None:
    paths = sorted(Path(folder).glob("*.ipynb"))
    if not paths:
        raise SystemExit(f"no executed notebooks in {folder}; run `make book` first")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if drop_repeated_streams(nb):
            nbformat.write(nb, path)


if __name__ == "__main__":
    main(*sys.argv[1:])
