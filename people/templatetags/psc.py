from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("people/psc_login.html", takes_context=True)
def psc_login_button(context):
    """The « Pro Santé Connect » button of the login page; nothing when PSC is not configured."""
    return {"psc_enabled": settings.PSC_ENABLED, "next": context.get("next", "")}
