"""What the book's configuration says: pages, repository, launch URLs.

Shared by the static checks (test_book.py) and the browser checks (test_site.py),
so that both derive the list of pages and the launch URLs in one way.
"""

from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load_yaml(name):
    with open(ROOT / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


TOC = load_yaml("_toc.yml")
CONFIG = load_yaml("_config.yml")


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


TOC_FILES = toc_files(TOC)


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


def page_name(entry):
    """The toc entry without its suffix: `chapters/01_pytorch_basics`."""
    path = Path(entry)
    return path.with_suffix("").as_posix() if path.suffix else path.as_posix()


def repository():
    """(owner, name, branch, path_to_book) of the repository in _config.yml."""
    repo = CONFIG["repository"]
    parsed = urlparse(repo["url"])
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.netloc != "github.com" or len(parts) != 2:
        raise ValueError(
            f"_config.yml repository.url is {repo['url']!r}; expected "
            "https://github.com/OWNER/REPO"
        )
    owner, name = parts[0], parts[1].removesuffix(".git")
    path_to_book = str(repo.get("path_to_book") or "").strip("/")
    return owner, name, repo["branch"], path_to_book


def repo_path(source):
    """The path of a source file inside the repository, as a launch URL names it."""
    *_, path_to_book = repository()
    rel = source.relative_to(ROOT).as_posix()
    return f"{path_to_book}/{rel}" if path_to_book else rel


def colab_url(source):
    """The Colab URL of a notebook, as the website's launch button builds it."""
    owner, name, branch, _ = repository()
    base = CONFIG["launch_buttons"]["colab_url"].rstrip("/")
    return f"{base}/github/{owner}/{name}/blob/{branch}/{repo_path(source)}"


def binder_url(source):
    """The Binder URL of a notebook, opened in the configured interface."""
    owner, name, branch, _ = repository()
    launch = CONFIG["launch_buttons"]
    base = launch["binderhub_url"].rstrip("/")
    ui = {"jupyterlab": "lab/tree", "classic": "tree"}[
        launch.get("notebook_interface", "classic")
    ]
    return f"{base}/v2/gh/{owner}/{name}/{branch}?urlpath={ui}/{repo_path(source)}"
