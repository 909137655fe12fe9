"""What the experiments' command lines share: argument types, output checks, help.

Every check runs while the arguments are parsed, before the experiment spends
minutes, so a bad value costs nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines (and the paths in it) as written."""


def epilog(default: Path, chapter: int, option: str) -> str:
    """The help's last paragraph: where the results go, and how to keep them."""
    return (
        f"By default the results go to\n  {default}\n"
        f"replacing the committed results that chapter {chapter} and the tests read\n"
        "(re-running with the defaults reproduces them). To keep those, write\n"
        f"elsewhere with --out {option}."
    )


def _int_at_least(text: str, low: int, kind: str) -> int:
    what = f"give a whole number of at least {low}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text} is not a whole number; {what}"
        ) from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text} is not a {kind} whole number; {what}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _int_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _int_at_least(text, 0, "non-negative")


def check_distinct(parser, option: str, values: list, what: str) -> None:
    """``parser.error`` if a value of ``option`` is given more than once."""
    for k, value in enumerate(values):
        if value in values[:k]:
            given = " ".join(str(v) for v in values)
            parser.error(
                f"{option} {given}: {what} {value} is given twice; give each once"
            )


def _check_inside_a_writable_folder(parser, path: Path) -> None:
    """``parser.error`` unless the nearest existing folder above ``path`` is one
    that can be written to (the missing folders between are created later)."""
    ancestor = next(p for p in path.parents if p.exists())
    if not ancestor.is_dir():
        parser.error(
            f"--out {path}: {ancestor} is not a folder; give a path inside a folder"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        parser.error(
            f"--out {path}: the folder {ancestor} is not writable; give a path "
            "you can write to"
        )


def add_progress(parser) -> None:
    """``--progress`` / ``--no-progress``; neither: bars only in a terminal."""
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress bars (default: only in a terminal)",
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )


def _check_not_empty(parser, text: str) -> None:
    if not text.strip():
        parser.error("--out is empty; give a path, or leave --out out for the default")


def check_out_folder(parser, path: Path, text: str | None = None) -> None:
    """``parser.error`` unless ``path`` is, or can be created as, a writable folder
    (``text``: the option's value as typed, to refuse an empty one)."""
    if text is not None:
        _check_not_empty(parser, text)
    if path.exists():
        if not path.is_dir():
            parser.error(
                f"--out {path}: exists and is not a folder; give a folder (it is "
                "created if missing)"
            )
        if not os.access(path, os.W_OK | os.X_OK):
            parser.error(
                f"--out {path}: the folder is not writable; give a folder you can "
                "write to"
            )
    else:
        _check_inside_a_writable_folder(parser, path)


def check_out_file(parser, path: Path, name: str, text: str | None = None) -> None:
    """``parser.error`` unless ``path`` is, or can be created as, a writable file
    (``name`` is the default file's name, suggested when ``path`` is a folder;
    ``text``: the option's value as typed, to refuse an empty one or a folder
    written with a trailing slash)."""
    if text is not None:
        _check_not_empty(parser, text)
        if text.endswith(("/", "\\")) and not path.is_dir():
            parser.error(
                f"--out {text}: ends with a slash, like a folder; give the path of "
                f"the JSON file to write, such as {path / name}"
            )
    if path.is_dir():
        parser.error(
            f"--out {path}: is a folder; give the path of the JSON file to write, "
            f"such as {path / name}"
        )
    if path.exists():
        if not os.access(path, os.W_OK):
            parser.error(
                f"--out {path}: the file is not writable; give a path you can write to"
            )
    else:
        _check_inside_a_writable_folder(parser, path)


def json_experiment_parser(
    name: str, description: str, results: Path, chapter: int, aliases=()
) -> argparse.ArgumentParser:
    """The command line of an experiment that writes one JSON file, ``results`` by
    default (``aliases``: other names of ``--out``)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m nodecourse.experiments.{name}",
        description=description,
        epilog=epilog(results, chapter, "FILE"),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--out",
        *aliases,
        dest="out",
        type=str,
        default=results,
        metavar="FILE",
        help="the JSON file to write, its folder created if missing (default: the "
        "committed file, below)",
    )
    add_progress(parser)
    return parser


def parse_json_experiment_args(parser, argv, results: Path) -> argparse.Namespace:
    """``parser``'s arguments, with ``--out`` checked and made a ``Path``: a bad
    one exits with a usage message before the experiment runs."""
    args = parser.parse_args(argv)
    typed = args.out if isinstance(args.out, str) else None
    args.out = Path(args.out)
    check_out_file(parser, args.out, results.name, typed)
    return args
