"""The portal's one PDF renderer: a Django template to an A4 PDF with WeasyPrint.

Every rendered document (prescription summary, RCP minutes, consent forms, shipping manifests, report cover
pages) extends ``templates/pdf/base.html``, which brings the print stylesheet, the embedded DejaVu Sans
fonts, the running footer with the reference and "Page X / Y", and the QR code of the reference on the
first page.

The same content gives the same bytes, so that a stored render can be named after its hash and a re-render
is recognised as the same document. WeasyPrint 70, rendering from a string, writes no creation date and no
file identifier of its own, and names font subsets after their content; what could still vary is what we
give it. So the PDF's dates are the document's own (``created``: an attestation, a meeting), never the time
of rendering; the file identifier is derived from the reference and the template; the language and the time
zone are fixed, whichever process renders (a worker, or a web request in English); and nothing is fetched
(the fonts come from the system through ``@font-face { src: local(...) }``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import TYPE_CHECKING, Any

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")


class _FontsOnly(URLFetcher):
    """Reads the system's font files and nothing else: whatever a document's text holds, rendering it never
    reaches the network nor reads another local file."""

    def fetch(self, url, headers=None):
        if url.startswith("file:") and url.lower().endswith(FONT_SUFFIXES):
            return super().fetch(url, headers)
        raise ValueError(f"PDF rendering fetches no external resource: {url}")


_local = threading.local()


def _font_config() -> FontConfiguration:
    # Building the font configuration copies the @font-face files into a temporary folder: once per thread
    # rather than once per document (about a tenth of the rendering time otherwise).
    if not hasattr(_local, "fonts"):
        _local.fonts = FontConfiguration()
    return _local.fonts


def qr_svg(text: str) -> str:
    """The QR code of ``text`` as inline SVG, sized by the stylesheet."""
    return segno.make(text, error="m", micro=False).svg_inline(border=0, omitsize=True)


def _w3c(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_pdf(
    template_name: str,
    context: dict[str, Any],
    *,
    reference: str,
    title: StrOrPromise,
    created: dt.datetime | None = None,
    language: str | None = None,
) -> bytes:
    """Render ``template_name`` (which extends ``pdf/base.html``) to PDF bytes.

    ``reference`` is printed in every page's footer and as a QR code on the first page; ``title`` is the
    heading and the PDF's title; ``created`` (an aware datetime, optional) is the date the PDF declares, and
    must come from the content, never from the clock; ``language`` defaults to French (``LANGUAGE_CODE``), the
    language of the documents that travel between hospitals and laboratories."""
    language = language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(settings.TIME_ZONE):
        title = str(title)
        pdf = {
            "reference": reference,
            "title": title,
            "language": language,
            "qr_svg": mark_safe(qr_svg(reference)),  # noqa: S308 - segno's markup: paths only, no text
            "created": _w3c(created) if created else "",
        }
        html = render_to_string(template_name, {**context, "pdf": pdf})
    identifier = hashlib.sha256(f"{reference}\n{template_name}".encode()).hexdigest()[:32].encode()
    document = HTML(string=html, url_fetcher=_FontsOnly())
    return document.write_pdf(font_config=_font_config(), pdf_identifier=identifier)


# --- Where renders are kept -------------------------------------------------------------------------------


def store_render(folder: str, prefix: str, data: bytes) -> str:
    """Store a render at ``<folder>/<prefix><hash>.pdf``, the hash being that of its bytes, unless those bytes
    are stored already; returns the path. Rendering is deterministic, so the same content is stored once and a
    task run twice (a worker killed midway) stores nothing new."""
    path = f"{folder}/{prefix}{hashlib.sha256(data).hexdigest()[:16]}.pdf"
    if not default_storage.exists(path):
        saved = default_storage.save(path, ContentFile(data))
        if saved != path:
            # Another worker stored the same render meanwhile (the storage gave ours another name): keep one.
            default_storage.delete(saved)
    return path


def latest_render(folder: str, prefix: str) -> str | None:
    """The path of the latest render stored by ``store_render`` under ``folder`` with ``prefix``, or None."""
    try:
        _folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return None
    paths = [f"{folder}/{name}" for name in files if name.startswith(prefix) and name.endswith(".pdf")]
    if not paths:
        return None
    return max(paths, key=lambda path: (default_storage.get_modified_time(path), path))
