"""Make GX Data Docs render offline: serve the CSS/JS/fonts they take from CDNs from vendored copies."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR_NAME = "vendor"

CDN_FILES: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/js/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark/css/bootstrap-prefers-dark.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/vega-embed.min.js",
}
"""CDN URL in GX 1.24's Data Docs → file under expectations/static (see its README for versions)."""

# GX's logo comes from its S3 bucket; the Data Docs ship a copy under static/images.
_GX_ASSETS = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z_-]+\.png[^\"')]*"
)
_TAG = re.compile(r"<(script|link)\b[^>]*>(?:\s*</script>)?", re.IGNORECASE)
_URL_ATTR = re.compile(r"""\b(src|href)\s*=\s*["'](https?://[^"']+)["']""", re.IGNORECASE)
_SRI_ATTRS = re.compile(r"""\s+(integrity|crossorigin)(\s*=\s*["'][^"']*["'])?""", re.IGNORECASE)


def rewrite_page(html: str, root: str) -> tuple[str, list[str]]:
    """Point a Data Docs page's CDN scripts, styles and images at local files.

    Parameters
    ----------
    html
        The page.
    root
        Relative path from the page to the site root (``""``, ``"../"``, ...).

    Returns
    -------
    tuple[str, list[str]]
        The page, and the external URLs of ``<script>``/``<link>`` tags that had no local copy: those tags are
        removed (offline they would only stall the page).
    """
    dropped: list[str] = []

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        found = _URL_ATTR.search(text)
        if not found:
            return text
        url = found.group(2)
        local = CDN_FILES.get(url)
        if local is None:
            dropped.append(url)
            return ""
        # Subresource integrity with CORS cannot be checked on file:// pages; the files are pinned by the README.
        text = _SRI_ATTRS.sub("", text)
        return text.replace(url, f"{root}static/{VENDOR_DIR_NAME}/{local}")

    out = _TAG.sub(tag, html)
    out = _GX_ASSETS.sub(f"{root}static/images/logo-long.png", out)
    return out, dropped


def vendor_static(site: Path) -> Path:
    """Copy the vendored files into the site (``static/vendor``) unless the same version is already there."""
    target = site / "static" / VENDOR_DIR_NAME
    marker = target / "README.md"
    source_marker = STATIC_DIR / "README.md"
    if marker.is_file() and marker.read_bytes() == source_marker.read_bytes():
        return target
    shutil.copytree(STATIC_DIR, target, dirs_exist_ok=True)
    return target


def make_offline(site: Path) -> list[str]:
    """Vendor the static files into a Data Docs site and rewrite all its pages and stylesheets in place.

    Returns
    -------
    list[str]
        External script/style URLs that had no local copy and were removed (empty when GX's CDN list is known).
    """
    if not (site / "index.html").is_file():
        return []
    vendor_static(site)
    dropped: list[str] = []
    pages = [*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]
    for page in pages:
        if VENDOR_DIR_NAME in page.relative_to(site).parts:
            continue
        depth = len(page.relative_to(site).parts) - 1
        root = "../" * depth
        text = page.read_text(encoding="utf-8")
        new, lost = rewrite_page(text, root)
        dropped += lost
        if new != text:
            tmp = page.with_suffix(page.suffix + ".tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(page)
    return sorted(set(dropped))
