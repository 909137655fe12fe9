"""Static checks of the book: table of contents, configuration and notebooks.

Fast: nothing is executed here. Running the notebooks is the job of
`pytest --nbval-lax chapters` (see `make test`) and of `make book`.
"""

import importlib
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(
    p for p in CHAPTERS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
# Chapters written as MyST markdown pages (no code to run): they need a numbered
# title and a place in the table of contents, but no exercises or checks.
MARKDOWN_CHAPTERS = sorted(CHAPTERS.glob("*.md"))
HEADING = re.compile(r"^#{1,6}\s+(?:\d+(?:\.\d+)*\.?\s+)?(.+?)\s*#*\s*$")


def load_yaml(name):
    with open(ROOT / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def toc_files(node):
    """Every `file:` entry of a jb-book table of contents, root first."""
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(str(node[key]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                found.extend(toc_files(child))
    return found


TOC = load_yaml("_toc.yml")
TOC_FILES = toc_files(TOC)
CONFIG = load_yaml("_config.yml")


def resolve(entry):
    """The existing source file of a toc entry (with or without suffix), or None."""
    path = ROOT / entry
    if path.suffix in (".md", ".ipynb"):
        return path if path.is_file() else None
    for suffix in (".md", ".ipynb"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def rel(path):
    return path.relative_to(ROOT).as_posix()


def headings(nb):
    """The text of every markdown heading in the notebook, numbering stripped."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = HEADING.match(line)
            if match:
                found.append(match.group(1).strip().lower())
    return found


@pytest.fixture(params=NOTEBOOKS, ids=rel)
def notebook(request):
    path = request.param
    return path, nbformat.read(path, as_version=nbformat.NO_CONVERT)


# --- table of contents -------------------------------------------------------


def test_toc_format():
    assert TOC.get("format") == "jb-book", f"_toc.yml format is {TOC.get('format')!r}"
    assert TOC.get("root") == "intro", f"_toc.yml root is {TOC.get('root')!r}"


@pytest.mark.parametrize("entry", TOC_FILES)
def test_toc_entry_exists(entry):
    assert resolve(entry) is not None, (
        f"_toc.yml lists {entry!r} but neither {entry}.md nor {entry}.ipynb exists; "
        "create the page or remove the entry"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebook_listed_in_toc(path):
    listed = {resolve(entry) for entry in TOC_FILES}
    assert path in listed, f"{rel(path)} is not listed in _toc.yml; add it there"


@pytest.mark.parametrize("path", MARKDOWN_CHAPTERS, ids=rel)
def test_markdown_chapter_listed_and_titled(path):
    listed = {resolve(entry) for entry in TOC_FILES}
    assert path in listed, f"{rel(path)} is not listed in _toc.yml; add it there"
    first = path.read_text(encoding="utf-8").lstrip().splitlines()[0]
    number = int(path.name.split("_")[0])
    assert first.startswith(f"# {number}. "), (
        f"{rel(path)}: the first line must be the title '# {number}. ...', got "
        f"{first[:40]!r}"
    )


def bibliography_pages():
    """The toc pages that hold a {bibliography} directive."""
    pages = []
    for entry in TOC_FILES:
        path = resolve(entry)
        text = path.read_text(encoding="utf-8") if path else ""
        if path is not None and path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        if "{bibliography}" in text:
            pages.append(entry)
    return pages


def test_one_bibliography_page_at_the_end_of_the_book():
    pages = bibliography_pages()
    assert len(pages) == 1, (
        f"the book must have exactly one {{bibliography}} directive, found it in "
        f"{pages}; cite with {{cite}} and let the bibliography page list the works"
    )
    assert pages[0] == TOC_FILES[-1], (
        f"the bibliography page {pages[0]!r} must be the last entry of _toc.yml"
    )


# --- configuration -----------------------------------------------------------


def test_config_executes_every_notebook_and_fails_on_error():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["timeout"] > 30, "raise execute.timeout above the 30 s default"
    assert execute.get("allow_errors", False) is False
    sphinx_config = CONFIG["sphinx"]["config"]
    assert sphinx_config["nb_execution_raise_on_error"] is True


def test_config_math():
    extensions = CONFIG["parse"]["myst_enable_extensions"]
    for name in ("dollarmath", "amsmath"):
        assert name in extensions, f"add {name!r} to parse.myst_enable_extensions"
    assert "sphinx-mathjax-offline" in CONFIG["sphinx"]["extra_extensions"]


@pytest.mark.parametrize("name", CONFIG["sphinx"]["extra_extensions"])
def test_config_extra_extension_imports(name):
    importlib.import_module(name)


def test_config_bibliography_exists():
    for name in CONFIG.get("bibtex_bibfiles", []):
        assert (ROOT / name).is_file(), f"_config.yml names missing {name}"


# --- notebooks ---------------------------------------------------------------


def test_notebook_is_valid_nbformat4(notebook):
    path, nb = notebook
    assert nb.nbformat == 4, f"{rel(path)} is nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)


def test_notebook_has_no_outputs(notebook):
    path, nb = notebook
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count)
    ]
    assert not dirty, (
        f"{rel(path)}: code cells {dirty} carry outputs or execution counts; run "
        f"`jupyter nbconvert --clear-output --inplace {rel(path)}`"
    )


def test_notebook_kernelspec(notebook):
    path, nb = notebook
    name = nb.metadata.get("kernelspec", {}).get("name")
    assert name == "python3", f"{rel(path)}: kernelspec name is {name!r}"


def test_notebook_skeleton(notebook):
    path, nb = notebook
    first = nb.cells[0] if nb.cells else None
    assert first is not None and first.cell_type == "markdown", (
        f"{rel(path)}: the first cell must be markdown with the title"
    )
    assert first.source.startswith("# "), (
        f"{rel(path)}: the first cell must start with '# ', got {first.source[:40]!r}"
    )
    found = headings(nb)
    for wanted in ("summary", "exercises", "further reading"):
        assert wanted in found, f"{rel(path)}: no heading {wanted.title()!r}"
    asserts = [
        cell
        for cell in nb.cells
        if cell.cell_type == "code" and re.search(r"\bassert\b", cell.source)
    ]
    assert asserts, f"{rel(path)}: no code cell with an `assert`"
    assert "checks" in found, f"{rel(path)}: no heading 'Checks'"


def colab_install_source():
    """The one install cell, built from the repository named in _config.yml.

    It installs the package only where it is missing (Colab, Binder), so a local
    run with `make` uses the checkout's editable install.
    """
    repo = CONFIG["repository"]
    url, branch = repo["url"].rstrip("/"), repo["branch"]
    return (
        "# Install the course package where it is missing (Colab, Binder).\n"
        "try:\n"
        "    import nodecourse  # noqa: F401\n"
        "except ImportError:\n"
        f'    %pip install --quiet "nodecourse @ git+{url}@{branch}"'
    )


def test_notebook_first_code_cell_installs_the_package_in_colab(notebook):
    path, nb = notebook
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and code[0].source == colab_install_source(), (
        f"{rel(path)}: the first code cell must be exactly the Colab install cell "
        f"built from _config.yml's repository:\n{colab_install_source()}"
    )


def broken_inline_math(source):
    """Lines that start a list item while an inline `$...$` is still open.

    Markdown reads a line starting with `- `, `+ ` or `* ` as a new list item even in
    the middle of inline math, which then renders as raw text.
    """
    text = re.sub(r"\$\$.*?\$\$", "", source, flags=re.S)
    bad, open_math = [], False
    for line in text.splitlines():
        if not line.strip():
            open_math = False
            continue
        if open_math and re.match(r"\s*[-+*]\s", line):
            bad.append(line.strip())
        open_math ^= line.replace(r"\$", "").count("$") % 2 == 1
    return bad


def test_notebook_inline_math_is_not_split_by_list_markers(notebook):
    path, nb = notebook
    bad = [
        line
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in broken_inline_math(cell.source)
    ]
    assert not bad, (
        f"{rel(path)}: these lines continue inline math but start like a list item, "
        f"so the math renders raw; move the operator to the previous line: {bad}"
    )


def test_broken_inline_math_is_detected():
    assert broken_inline_math("so $a = b\n- c$ holds") == ["- c$ holds"]
    assert broken_inline_math("- a list item with $x$\n- another $y$") == []
