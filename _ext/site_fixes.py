"""Sphinx extension: two repairs to the pages Jupyter Book 1.0.4 writes.

- Some extensions register their inline scripts once per reading pass, so a page
  can declare the same `const` twice (`THEBE_JS_URL`), which is a JavaScript error.
  Every page keeps only the first copy of each script and stylesheet.
- pydata-sphinx-theme logs an error when the page's colour mode is empty; the
  book follows the reader's system setting ("auto") unless a mode is set.

tests/test_site.py finds both problems in a browser if this extension is removed.
"""


def _unique(assets):
    seen, kept = set(), []
    for asset in assets:
        # The copies differ only in how an inline script says "no file" (None or
        # ""), so the key compares the file name by its truth value.
        attributes = tuple(sorted((k, str(v)) for k, v in asset.attributes.items()))
        key = (str(getattr(asset, "filename", asset) or ""), attributes)
        if key not in seen:
            seen.add(key)
            kept.append(asset)
    return kept


def _repair_page(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        if name in context:
            context[name] = _unique(context[name])
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app):
    app.connect("html-page-context", _repair_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
