"""The console's pages in navigation order; each module defines ``router`` and ``PAGE``.

A page module: ``router = APIRouter()`` with paths relative to ``/ui`` (e.g.
``/certificates``, ``/certificates/{serial}``) and ``PAGE = Page(name, title, path, router)``.
Adding a page: import its module here and put its ``PAGE`` into :data:`PAGES`.
"""

from __future__ import annotations

from certward.server.console.page import Page
from certward.server.console.pages import (
    audit,
    cas,
    certificates,
    kds,
    kms,
    overview,
    principals,
    slots,
)

__all__ = ["PAGES", "Page"]

PAGES: tuple[Page, ...] = (
    overview.PAGE,
    certificates.PAGE,
    cas.PAGE,
    slots.PAGE,
    kms.PAGE,
    kds.PAGE,
    principals.PAGE,
    audit.PAGE,
)
