"""Panels that other apps add to a tube's page.

``samples`` must never import the apps built on it (``assays`` imports ``samples``, not the
reverse), yet a tube's page should show what those apps know about the tube — particle
measurements, for instance. So an app registers a callable in its ``AppConfig.ready`` and
the tube page renders whatever is registered, in registration order::

    register_panel(characterisation_panel)

A panel is called as ``panel(request=..., aliquot=..., role=...)`` (``role`` is the user's
role in the tube's study) and returns the panel's HTML, or an empty string to show nothing.
Return a ``SafeString`` (e.g. from ``render_to_string``); a plain ``str`` is escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

from .models import Aliquot

logger = logging.getLogger(__name__)

AliquotPanel = Callable[..., str]

_PANELS: list[AliquotPanel] = []


def register_panel(panel: AliquotPanel) -> AliquotPanel:
    """Add ``panel`` to every tube page. Registering the same callable again does nothing,
    so a ``ready()`` that runs twice (some test runners) does not show a panel twice."""
    if panel not in _PANELS:
        _PANELS.append(panel)
    return panel


def unregister_panel(panel: AliquotPanel) -> None:
    if panel in _PANELS:
        _PANELS.remove(panel)


def registered_panels() -> tuple[AliquotPanel, ...]:
    return tuple(_PANELS)


def render_panels(*, request: HttpRequest, aliquot: Aliquot, role: str | None) -> list[SafeString]:
    """The HTML of every registered panel for this tube. A panel that fails is logged and
    replaced by a short note: the tube's own page must still open, since it is where people
    go to find out what happened to a tube."""
    shown: list[SafeString] = []
    for panel in _PANELS:
        try:
            html = panel(request=request, aliquot=aliquot, role=role)
        except Exception:
            name = getattr(panel, "__qualname__", repr(panel))
            logger.exception("Tube panel %s failed for aliquot %s", name, aliquot.pk)
            html = format_html(
                '<section class="panel panel-error"><p class="muted">Part of this page '
                "could not be shown ({}); the error has been logged.</p></section>",
                getattr(panel, "panel_title", name),
            )
        if html:
            shown.append(conditional_escape(html))
    return shown
