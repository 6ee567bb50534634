"""Punctuation that differs between the interface's languages. Loaded as a template builtin (settings)."""

from django import template
from django.utils.translation import get_language

register = template.Library()


@register.simple_tag
def colon() -> str:
    """A label's colon: French puts a (non-breaking) space before it, English does not."""
    return "\u00a0:" if (get_language() or "fr").startswith("fr") else ":"
