"""Sections that other apps add to the dossier page (RCP sheet, consents, samples, report…).

``prescriptions`` never imports ``rcp``, ``consent`` or ``labs``: they register a panel here from their
AppConfig.ready(). A panel's ``context(request, dossier)`` returns the dict its template receives as
``panel`` (or None to show nothing for this user and dossier). A transition that has its own screen (the RCP
decision form, sample reception, signing) registers that screen, and the dossier page links to it instead of
offering a bare button."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .folding import Fold

PanelContext = Callable[[Any, Any], "dict | None"]


@dataclass(frozen=True)
class Panel:
    key: str
    template: str
    context: PanelContext
    order: int = 50


_panels: dict[str, Panel] = {}
_dedicated: dict[str, Callable[[Any], str]] = {}
_folds: dict[tuple[str | None, str], Fold] = {}


def register_panel(*, key: str, template: str, context: PanelContext, order: int = 50) -> None:
    _panels[key] = Panel(key, template, context, order)


def register_fold(fold: Fold, *, under: str | None = None) -> None:
    """A collection the app's panel (or its transitions' requirements) reads on the dossier page, loaded with
    the dossier in its one query (``prescriptions.folding``): a relation of the dossier, or of the rows of the
    dossier's collection ``under`` (e.g. each person's consent). The panel reads it as ``dossier.x.all()``."""
    _folds[(under, fold.relation)] = fold


def dossier_folds(base: list[Fold]) -> list[Fold]:
    """``base`` (the dossier page's own collections) and the registered ones, each with its nested folds."""
    top = {f.key: f for f in base}
    top.update({f.key: f for (under, _relation), f in _folds.items() if under is None})
    for (under, _relation), f in _folds.items():
        if under is not None:
            key = Fold(under).key
            top[key] = dataclasses.replace(top[key], nested=(*top[key].nested, f))
    return list(top.values())


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
