from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def _default_from():
    return timezone.localdate() - timezone.timedelta(days=30)


class PeriodForm(forms.Form):
    # A date input takes ISO dates only: in the French format the browser would show the field empty.
    date_from = forms.DateField(
        label=_("Du"),
        initial=_default_from,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=_("Au"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("La date de début est postérieure à la date de fin."))
        return data


class PatientQueryForm(PeriodForm):
    """By patient: an INS, or a dossier reference (all its persons). Sent by POST: an INS never goes into a URL."""

    ins = forms.CharField(label=_("INS du patient"), max_length=15, required=False)
    reference = forms.CharField(label=_("ou référence de dossier"), max_length=20, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("ins") and not data.get("reference"):
            raise forms.ValidationError(_("Indiquez un INS ou une référence de dossier."))
        return data


class UserQueryForm(PeriodForm):
    user = forms.ModelChoiceField(
        label=_("Utilisateur"),
        queryset=get_user_model().objects.order_by("username"),
        to_field_name="username",
    )
