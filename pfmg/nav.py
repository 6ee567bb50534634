"""The header's links to each role's workspace ("Mes RCP", the laboratory queue…).

Apps register their link from their AppConfig.ready(); the base template shows those the user may open.
The project owns the list so that no app has to edit the base template to be reachable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavLink:
    url_name: str
    label: str  # a lazy translation
    visible: Callable  # visible(user) -> bool
    order: int = 50


_links: list[NavLink] = []


def register_nav(*, url_name: str, label, visible: Callable, order: int = 50) -> None:
    if any(link.url_name == url_name for link in _links):
        return
    _links.append(NavLink(url_name, label, visible, order))
    _links.sort(key=lambda link: (link.order, link.url_name))


def nav_links(request) -> dict:
    """Context processor: ``nav_links`` = [(url, label, current)] for the signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": []}
    links = []
    for link in _links:
        if link.visible(user):
            url = reverse(link.url_name)
            links.append((url, link.label, request.path.startswith(url)))
    return {"nav_links": links}
