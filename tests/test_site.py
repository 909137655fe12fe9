"""The built website, checked in a real browser (headless Chromium).

Every page listed in _toc.yml is served from _build/html over a loopback HTTP
server and opened once in Debian's Chromium through Playwright. The page must load
without JavaScript errors, its math must be typeset by MathJax, every image must
load and carry alt text, every internal link must resolve, and notebook pages must
offer the Colab and Binder launch URLs built from _config.yml. A full-page
screenshot of every page is saved under _build/screenshots/.

Build the site first (`make book`; `make test` does it). The tests fail, never
skip, when the site or the browser is missing.
"""

import functools
import http.server
import re
import shutil
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
from bookinfo import ROOT, TOC_FILES, binder_url, colab_url, page_name, resolve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
PAGES = [page_name(entry) for entry in TOC_FILES]
TIMEOUT_MS = 60_000
# Text that MathJax leaves behind when it did not typeset a formula.
RAW_MATH = re.compile(r"\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")
# An alt text that is only a file name says nothing about the figure.
FILENAME_ALT = re.compile(r"^[\w./-]+\.(png|jpe?g|gif|svg|webp)$", re.I)
MIN_ALT_WORDS = 3


# --- serving the site ---------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def site_url():
    """The base URL of _build/html, served on a free loopback port."""
    missing = [p for p in PAGES if not (HTML / f"{p}.html").is_file()]
    if missing:
        pytest.fail(
            f"the built site is missing or incomplete ({len(missing)} pages absent "
            f"from {HTML}, e.g. {missing[0]}.html); build it with `make book` "
            "(`make test` builds it first)",
            pytrace=False,
        )
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright; never Playwright's own download."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no browser at {CHROMIUM}; install Debian's Chromium with "
            "`apt-get update && apt-get install -y chromium` (.ci/run does this)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing; `make test` installs it from "
            "requirements.txt",
            pytrace=False,
        )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


# --- one visit per page ---------------------------------------------------------


@dataclass
class Visit:
    """What one page showed in the browser."""

    url: str
    status: int | None
    errors: list = field(default_factory=list)  # console errors and page errors
    text: str = ""  # the article's rendered text, code and typeset math removed
    math_total: int = 0  # elements that Sphinx marked as math
    math_typeset: int = 0  # of those, the ones MathJax replaced by mjx-container
    mjx: int = 0  # mjx-container elements in the article
    images: list = field(default_factory=list)  # {src, alt, width, complete, content}
    links: list = field(default_factory=list)  # absolute hrefs of every <a>
    screenshot: Path | None = None
    blocked: list = field(default_factory=list)  # requests to other sites, refused


COLLECT = """() => {
  const article = document.querySelector("article") || document.querySelector("main");
  const clone = article.cloneNode(true);
  clone.querySelectorAll(
    "pre, code, script, style, mjx-container, .highlight, .cell_output, "
    + ".MathJax_Preview"
  ).forEach((node) => node.remove());
  const math = [...article.querySelectorAll(".math")];
  return {
    text: clone.innerText,
    math_total: math.length,
    math_typeset: math.filter((m) => m.querySelector("mjx-container")).length,
    mjx: article.querySelectorAll("mjx-container").length,
    images: [...document.images].map((img) => ({
      src: img.currentSrc || img.src,
      alt: img.getAttribute("alt"),
      width: img.naturalWidth,
      complete: img.complete,
      content: article.contains(img),
    })),
    links: [...document.querySelectorAll("a[href]")].map((a) => a.href),
  };
}"""

# MathJax 3 resolves startup.promise once the first typesetting pass is done.
WAIT_FOR_MATH = """async () => {
  if (!window.MathJax || !window.MathJax.startup) return false;
  await window.MathJax.startup.promise;
  return true;
}"""

LOAD_IMAGES = """async () => {
  const images = [...document.images];
  images.forEach((img) => { img.loading = "eager"; });
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
}"""


@pytest.fixture(scope="session")
def visit(browser, site_url):
    """visit(page) opens the page once per session and returns its Visit."""
    cache = {}
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)

    def ours(url):
        return url.startswith(site_url)

    def open_page(page_path):
        if page_path in cache:
            return cache[page_path]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        # Nothing outside the loopback server is fetched: the site must not need it.
        blocked = []

        def only_ours(route):
            if ours(route.request.url):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_ours)
        errors = []

        def on_console(msg):
            source = msg.location.get("url", "") if msg.location else ""
            if msg.type == "error" and (not source or ours(source)):
                if "net::ERR_FAILED" in msg.text and not ours(msg.text):
                    return  # a blocked request to another site, not our page's fault
                errors.append(f"console: {msg.text} ({source})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.set_default_timeout(TIMEOUT_MS)
        url = urljoin(site_url, f"{page_path}.html")
        response = page.goto(url, wait_until="load")
        typeset = page.evaluate(WAIT_FOR_MATH)
        page.evaluate(LOAD_IMAGES)
        page.wait_for_load_state("networkidle")
        data = page.evaluate(COLLECT)
        shot = SCREENSHOTS / f"{page_path.replace('/', '__')}.png"
        page.screenshot(path=str(shot), full_page=True)
        if not typeset and data["math_total"]:
            errors.append("MathJax never started on a page with math")
        result = Visit(
            url=url,
            status=response.status if response else None,
            errors=errors,
            text=data["text"],
            math_total=data["math_total"],
            math_typeset=data["math_typeset"],
            mjx=data["mjx"],
            images=data["images"],
            links=data["links"],
            screenshot=shot,
            blocked=blocked,
        )
        context.close()
        cache[page_path] = result
        return result

    return open_page


# --- anchors of the built pages, read from disk ---------------------------------


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value)


@functools.cache
def anchors(path):
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def broken_internal_links(links, site_url):
    """The links into the site whose file or anchor does not exist."""
    broken = []
    for href in links:
        if not href.startswith(site_url):
            continue
        parsed = urlparse(href)
        rel = unquote(parsed.path)[len(urlparse(site_url).path) :]
        target = HTML / rel
        if rel == "" or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(HTML)})")
        elif parsed.fragment and target.suffix == ".html":
            if unquote(parsed.fragment) not in anchors(target):
                broken.append(f"{href} (no anchor #{parsed.fragment})")
    return sorted(set(broken))


# --- the checks -----------------------------------------------------------------


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_without_javascript_errors(visit, page_path):
    result = visit(page_path)
    assert result.status == 200, f"{result.url} answered HTTP {result.status}"
    assert not result.errors, f"{result.url}:\n" + "\n".join(result.errors)
    assert result.screenshot.stat().st_size > 10_000, "the screenshot is blank"


@pytest.mark.parametrize("page_path", PAGES)
def test_page_needs_nothing_from_other_sites(visit, page_path):
    # A reader offline, or behind a firewall, gets exactly what this test sees.
    result = visit(page_path)
    assert not result.blocked, (
        f"{result.url} requests files from other sites: {result.blocked}"
    )


@pytest.mark.parametrize("page_path", PAGES)
def test_math_is_typeset(visit, page_path):
    result = visit(page_path)
    source = resolve(page_path).read_text(encoding="utf-8")
    if "$" in source or "{math}" in source:
        assert result.mjx > 0, (
            f"{result.url}: the source has math but the page has no mjx-container; "
            "MathJax did not run"
        )
    assert result.math_typeset == result.math_total, (
        f"{result.url}: {result.math_total - result.math_typeset} of "
        f"{result.math_total} math elements were not typeset"
    )
    raw = sorted({m.group(0) for m in RAW_MATH.finditer(result.text)})
    context = [
        result.text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
        for m in RAW_MATH.finditer(result.text)
    ][:3]
    assert not raw, (
        f"{result.url}: raw math delimiters {raw} in the rendered text, e.g. "
        f"{context}; check the Markdown around them"
    )


@pytest.mark.parametrize("page_path", PAGES)
def test_images_load_and_have_alt_text(visit, page_path):
    result = visit(page_path)
    problems = []
    for img in result.images:
        name = img["src"].rsplit("/", 1)[-1]
        alt = (img["alt"] or "").strip()
        if not img["complete"] or img["width"] == 0:
            problems.append(f"{name}: did not load")
        if not alt or FILENAME_ALT.match(alt) or name.split(".")[0] in alt:
            problems.append(f"{name}: alt text {alt!r} is empty or a file name")
        elif img["content"] and len(alt.split()) < MIN_ALT_WORDS:
            # A figure of the course needs a sentence; the theme's icons (the
            # "Colab logo" of a launch button) are named well enough by two words.
            problems.append(f"{name}: alt text {alt!r} does not describe the figure")
    assert not problems, f"{result.url}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page_path", PAGES)
def test_internal_links_resolve(visit, site_url, page_path):
    result = visit(page_path)
    broken = broken_internal_links(result.links, site_url)
    assert not broken, f"{result.url} has broken internal links:\n" + "\n".join(broken)


NOTEBOOK_PAGES = [page_name(e) for e in TOC_FILES if resolve(e).suffix == ".ipynb"]


@pytest.mark.parametrize("page_path", NOTEBOOK_PAGES)
def test_launch_buttons_carry_the_configured_urls(visit, page_path):
    result = visit(page_path)
    source = resolve(page_path)
    for kind, expected in (
        ("Colab", colab_url(source)),
        ("Binder", binder_url(source)),
    ):
        host = urlparse(expected).netloc
        offered = [href for href in result.links if urlparse(href).netloc == host]
        assert expected in offered, (
            f"{result.url}: no {kind} launch button with {expected}; "
            f"found {offered or 'none'}. Check launch_buttons and repository in "
            "_config.yml"
        )


def test_every_page_was_screenshot(visit):
    for page_path in PAGES:
        shot = visit(page_path).screenshot
        assert shot.is_file(), f"no screenshot {shot}"


def test_broken_links_are_detected(site_url):
    assert broken_internal_links(
        [f"{site_url}no-such-page.html", f"{site_url}intro.html#no-such-anchor"],
        site_url,
    ) == [
        f"{site_url}intro.html#no-such-anchor (no anchor #no-such-anchor)",
        f"{site_url}no-such-page.html (no file no-such-page.html)",
    ]
