"""Sections that other apps add to the dossier page (RCP sheet, consents, samples, report…).

``prescriptions`` never imports ``rcp``, ``consent`` or ``labs``: they register a panel here from their
AppConfig.ready(). A panel's ``context(request, dossier)`` returns the dict its template receives as
``panel`` (or None to show nothing for this user and dossier). A transition that has its own screen (the RCP
decision form, sample reception, signing) registers that screen, and the dossier page links to it instead of
offering a bare button."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PanelContext = Callable[[Any, Any], "dict | None"]


@dataclass(frozen=True)
class Panel:
    key: str
    template: str
    context: PanelContext
    order: int = 50


_panels: dict[str, Panel] = {}
_dedicated: dict[str, Callable[[Any], str]] = {}


def register_panel(*, key: str, template: str, context: PanelContext, order: int = 50) -> None:
    _panels[key] = Panel(key, template, context, order)


def register_dedicated_screen(transition: str, url_for: Callable[[Any], str]) -> None:
    """``url_for(dossier)`` is the page where ``transition`` is done with what it needs (not a bare button)."""
    _dedicated[transition] = url_for


def panels_for(request, dossier) -> list[dict]:
    shown = []
    for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key)):
        context = panel.context(request, dossier)
        if context is not None:
            shown.append({"key": panel.key, "template": panel.template, "context": context})
    return shown


def dedicated_screen(transition: str, dossier) -> str | None:
    url_for = _dedicated.get(transition)
    return url_for(dossier) if url_for else None
