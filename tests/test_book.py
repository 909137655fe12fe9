"""Static checks of the book: table of contents, configuration and notebooks.

Fast: nothing is executed here. Running the notebooks is the job of
`make book`, and of nbval on the executed copies (see `make test`).
"""

import importlib
import re
import subprocess

import nbformat
import pytest
import yaml
from bookinfo import CONFIG, ROOT, TOC, TOC_FILES, colab_url, repo_path, resolve

CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(
    p for p in CHAPTERS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
# Chapters written as MyST markdown pages (no code to run): they need a numbered
# title and a place in the table of contents, but no exercises or checks.
MARKDOWN_CHAPTERS = sorted(CHAPTERS.glob("*.md"))
HEADING = re.compile(r"^#{1,6}\s+(?:\d+(?:\.\d+)*\.?\s+)?(.+?)\s*#*\s*$")


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


# --- Colab ---------------------------------------------------------------------


def tracked_files():
    """The files git tracks in this checkout (None outside a git checkout)."""
    if not (ROOT / ".git").exists():
        return None
    result = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        return None
    return set(filter(None, result.stdout.split("\0")))


NOTEBOOK_ENTRIES = [e for e in TOC_FILES if (resolve(e) or ROOT).suffix == ".ipynb"]


@pytest.mark.parametrize("entry", NOTEBOOK_ENTRIES)
def test_colab_url_points_at_a_notebook_of_the_repository(entry):
    source = resolve(entry)
    url = colab_url(source)
    owner_repo = CONFIG["repository"]["url"].rstrip("/").split("github.com/")[1]
    prefix = (
        f"https://colab.research.google.com/github/{owner_repo}/blob/"
        f"{CONFIG['repository']['branch']}/"
    )
    assert url.startswith(prefix) and url.endswith(".ipynb"), url
    path = url[len(prefix) :]
    assert path == repo_path(source)
    assert (ROOT / path).is_file(), f"{url} names {path}, which does not exist"
    tracked = tracked_files()
    if tracked is not None:
        assert path in tracked, (
            f"{url} names {path}, which git does not track; Colab reads the "
            "repository, so commit it"
        )


# --- exercises, solutions, figures ----------------------------------------------

EXERCISE = re.compile(r"^```\{exercise\}[^\n]*\n:label: ([\w-]+)", re.M)
SOLUTION_START = re.compile(
    r"^````\{solution-start\} ([\w-]+)\n:class: dropdown\n````$"
)
SOLUTION_END = re.compile(r"^````\{solution-end\}\n````$")


def exercises(nb):
    """{label: number of code cells between its solution-start and solution-end}.

    Raises AssertionError on a solution without an exercise, an unclosed or
    nested solution, or an end without a start.
    """
    found, current = {}, None
    declared = [
        m.group(1)
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for m in EXERCISE.finditer(cell.source)
    ]
    for label in declared:
        found[label] = None
    for cell in nb.cells:
        source = cell.source.strip()
        if cell.cell_type == "markdown" and "{solution-start}" in source:
            match = SOLUTION_START.match(source)
            assert match, f"malformed solution-start cell: {source!r}"
            assert current is None, f"solution of {current!r} is not closed"
            current = match.group(1)
            assert current in found, f"solution for unknown exercise {current!r}"
            assert found[current] is None, f"two solutions for {current!r}"
            found[current] = 0
        elif cell.cell_type == "markdown" and "{solution-end}" in source:
            assert SOLUTION_END.match(source), f"malformed solution-end: {source!r}"
            assert current is not None, "solution-end without solution-start"
            current = None
        elif cell.cell_type == "code" and current is not None:
            found[current] += 1
    assert current is None, f"solution of {current!r} is not closed"
    return found


def test_exercises_parser_catches_mistakes():
    def nb_of(*cells):
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell(s[5:])
            if s.startswith("code:")
            else nbformat.v4.new_markdown_cell(s)
            for s in cells
        ]
        return nb

    start = "````{solution-start} ex-a\n:class: dropdown\n````"
    end = "````{solution-end}\n````"
    statement = "```{exercise} A\n:label: ex-a\n\nDo it.\n```"
    assert exercises(nb_of(statement, start, "code:x = 1", end)) == {"ex-a": 1}
    assert exercises(nb_of(statement, start, "words", end)) == {"ex-a": 0}
    assert exercises(nb_of(statement)) == {"ex-a": None}
    with pytest.raises(AssertionError):
        exercises(nb_of(statement, start, "code:x = 1"))


def test_notebook_has_three_exercises_with_executed_solutions(notebook):
    path, nb = notebook
    found = exercises(nb)
    assert len(found) >= 3, (
        f"{rel(path)}: {len(found)} exercises; write at least three as "
        "```{exercise} blocks (see the chapter skeleton)"
    )
    unsolved = [label for label, n in found.items() if not n]
    assert not unsolved, (
        f"{rel(path)}: exercises {unsolved} have no solution-start/solution-end pair "
        "around at least one code cell"
    )


FIGURE = re.compile(r"plt\.show\(\)|\bplot_\w+\(|\.plot\(|plt\.subplots\(|\bdraw\(")


def figure_cells(nb):
    """Code cells that draw a figure which the website shows."""
    return [
        (i, cell)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and FIGURE.search(cell.source)
        and "remove-output" not in cell.metadata.get("tags", [])
        and "remove-cell" not in cell.metadata.get("tags", [])
    ]


def test_every_figure_cell_has_alt_text(notebook):
    path, nb = notebook
    missing = []
    for i, cell in figure_cells(nb):
        alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
        if len(alt.split()) < 5:
            missing.append(i)
    assert not missing, (
        f"{rel(path)}: code cells {missing} draw a figure without alt text; add "
        '"mystnb": {"image": {"alt": "one sentence saying what it shows"}} to the '
        "cell metadata"
    )


def test_no_cell_hides_its_output_with_a_semicolon(notebook):
    path, nb = notebook
    bad = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and cell.source.rstrip().splitlines()
        and cell.source.rstrip().splitlines()[-1].rstrip().endswith(";")
    ]
    assert not bad, (
        f"{rel(path)}: code cells {bad} end with `;` to hide an output; use "
        "plt.show() or assign the result"
    )


WIDGET = re.compile(
    r"\b(?:ipywidgets|widgets)\.(?:interactive|interact)\(|\binteract\("
)


def test_widget_cells_are_hidden_from_the_website_and_from_nbval(notebook):
    # The website has no kernel, so a widget's output is removed there (a static
    # figure stands in for it); what a widget prints depends on the front end, so
    # nbval does not compare it between executions.
    path, nb = notebook
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and WIDGET.search(cell.source):
            tags = set(cell.metadata.get("tags", []))
            missing = {"remove-output", "nbval-ignore-output"} - tags
            assert not missing, (
                f"{rel(path)}: cell {i} displays a widget; tag it {sorted(missing)}"
            )


def test_training_keeps_its_progress_bar(notebook):
    path, nb = notebook
    bad = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and re.search(r"progress\s*=\s*False", cell.source)
    ]
    assert not bad, (
        f"{rel(path)}: cells {bad} switch nc.fit's progress bar off; leave the "
        "default (NODECOURSE_PROGRESS=0 turns it off under test)"
    )


# --- cross-references and citations --------------------------------------------

LABEL = re.compile(r"^:label:\s*([\w-]+)\s*$|^\(([\w-]+)\)=\s*$", re.M)
REF = re.compile(r"\{(prf:ref|ref|numref)\}`(?:[^`<]*<)?([\w-]+)>?`")
DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")
CITE = re.compile(r"\{cite(?::[tp])?\}`([^`]+)`")
BIB_KEY = re.compile(r"^@\w+\{([^,\s]+),", re.M)


def book_texts():
    """(source file, markdown text) for every page of the book."""
    for entry in TOC_FILES:
        source = resolve(entry)
        if source is None:
            continue
        if source.suffix == ".ipynb":
            nb = nbformat.read(source, as_version=nbformat.NO_CONVERT)
            text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            text = source.read_text(encoding="utf-8")
        yield source, text


def test_labels_are_unique_across_the_book():
    seen = {}
    for source, text in book_texts():
        for match in LABEL.finditer(text):
            label = match.group(1) or match.group(2)
            assert label not in seen, (
                f"label {label!r} is defined in {rel(seen[label])} and in "
                f"{rel(source)}; prefix labels with the chapter's topic"
            )
            seen[label] = source


def test_every_cross_reference_has_a_target():
    labels = set()
    texts = list(book_texts())
    for _, text in texts:
        labels.update(m.group(1) or m.group(2) for m in LABEL.finditer(text))
    missing = []
    for source, text in texts:
        for kind, target in REF.findall(text):
            if target not in labels:
                missing.append(f"{rel(source)}: {{{kind}}}`{target}`")
        for target in DOC.findall(text):
            base = (source.parent / target) if not target.startswith("/") else None
            candidates = [base] if base else []
            candidates.append(ROOT / target.lstrip("/"))
            if not any(resolve(str(c.relative_to(ROOT))) for c in candidates):
                missing.append(f"{rel(source)}: {{doc}}`{target}`")
    assert not missing, "references without a target:\n" + "\n".join(missing)


def test_bibliography_parses():
    # The book build reads it with pybtex (sphinxcontrib-bibtex); an unclosed entry
    # stops the whole build, so catch it here with the same parser.
    from pybtex.database import parse_file

    for name in CONFIG.get("bibtex_bibfiles", []):
        text = (ROOT / name).read_text(encoding="utf-8")
        entries = parse_file(ROOT / name).entries
        assert len(entries) == len(BIB_KEY.findall(text)), (
            f"{name}: pybtex read {len(entries)} entries but the file starts "
            f"{len(BIB_KEY.findall(text))}; look for an entry whose braces do not close"
        )


def test_every_citation_is_in_the_bibliography():
    keys = set()
    for name in CONFIG.get("bibtex_bibfiles", []):
        keys.update(BIB_KEY.findall((ROOT / name).read_text(encoding="utf-8")))
    missing = []
    for source, text in book_texts():
        for group in CITE.findall(text):
            for key in (k.strip() for k in group.split(",")):
                if key not in keys:
                    missing.append(f"{rel(source)}: {key}")
    assert not missing, "citations missing from references.bib:\n" + "\n".join(missing)


def test_no_citation_is_typed_by_hand():
    pattern = re.compile(
        r"\(([A-Z][a-z]+(?: et al\.)?,? (?:19|20)\d\d)\)"  # (He et al., 2016)
        r"|([A-Z][a-z]+(?: et al\.)? \((?:19|20)\d\d)[,)]"  # Chen et al. (2018)
    )
    found = []
    for source, text in book_texts():
        found.extend(f"{rel(source)}: {m.group(0)}" for m in pattern.finditer(text))
    assert not found, (
        "write citations as {cite:p}`key` or {cite:t}`key` against references.bib:\n"
        + "\n".join(found)
    )


# --- publishing -----------------------------------------------------------------


def test_pages_workflow_builds_with_make_book_and_deploys():
    path = ROOT / ".github" / "workflows" / "book.yml"
    with open(path, encoding="utf-8") as fh:
        workflow = yaml.safe_load(fh)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    assert "push" in triggers, f"{rel(path)}: no push trigger"
    assert workflow["permissions"] == {
        "contents": "read",
        "pages": "write",
        "id-token": "write",
    }
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = [step.get("run", "") for step in build["steps"]]
    assert "make book" in runs, f"{rel(path)} must build with the README's `make book`"
    uses = {step.get("uses", "").split("@")[0]: step for step in build["steps"]}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert any(
        step.get("uses", "").startswith("actions/deploy-pages@")
        for step in deploy["steps"]
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make book" in readme
