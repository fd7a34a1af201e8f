"""A page of the web console: its name, navigation label, path and routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

__all__ = ["Page"]


@dataclass(frozen=True)
class Page:
    """One entry of the console's navigation and the routes behind it."""

    name: str  # "certificates"
    title: str  # "Certificates" (navigation label)
    path: str  # "/certificates" (relative to /ui)
    router: APIRouter  # the page's routes, paths relative to /ui
