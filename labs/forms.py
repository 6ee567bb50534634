import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from people.models import Laboratory
from prescriptions.models import SampleType

from .models import Report


class DateInput(forms.DateInput):
    input_type = "date"


# A tube may come from a DNA bank, but not from before whole-genome sequencing existed, nor from tomorrow.
def past_and_plausible(value: dt.date) -> None:
    if value > timezone.localdate():
        raise ValidationError(_("La date ne peut pas être dans le futur."))
    if value.year < 1990:
        raise ValidationError(_("La date est antérieure à 1990 : vérifiez l'année."))


def within_a_month(value: dt.date) -> None:
    if abs((value - timezone.localdate()).days) > 31:
        raise ValidationError(
            _("L'enlèvement se déclare à un mois près de la date du jour : vérifiez la date.")
        )


class RoutingForm(forms.Form):
    laboratory = forms.ModelChoiceField(label=_("Laboratoire"), queryset=Laboratory.objects.all())
    reason = forms.CharField(
        label=_("Motif de l'orientation"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )


class SampleForm(forms.Form):
    person = forms.TypedChoiceField(label=_("Personne"), coerce=int)
    sample_type = forms.ChoiceField(label=_("Type de prélèvement"))
    barcode = forms.CharField(label=_("Code-barres du tube"), max_length=40)
    collected_on = forms.DateField(
        label=_("Date du prélèvement"),
        widget=DateInput,
        initial=timezone.localdate,
        validators=[past_and_plausible],
    )
    collected_by = forms.CharField(label=_("Préleveur"), max_length=150)

    def __init__(self, *args, persons, sample_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [
            (p.pk, f"{p.get_relationship_display()} — {p.patient}") for p in persons
        ]
        self.fields["sample_type"].choices = [(t, SampleType(t).label) for t in sample_types]


class ShipmentForm(forms.Form):
    carrier = forms.CharField(label=_("Transporteur"), max_length=100)
    tracking_number = forms.CharField(label=_("Numéro de suivi"), max_length=60)
    pickup_date = forms.DateField(
        label=_("Date d'enlèvement"),
        widget=DateInput,
        initial=timezone.localdate,
        validators=[within_a_month],
    )


class SequencingForm(forms.Form):
    run_identifier = forms.CharField(label=_("Identifiant du run"), max_length=80)
    mean_coverage = forms.DecimalField(
        label=_("Profondeur moyenne (x)"), min_value=0, max_digits=6, decimal_places=1
    )
    pct_20x = forms.DecimalField(
        label=_("Part du génome couverte à 20x ou plus (%)"),
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
    )


class AnalysisForm(forms.Form):
    interpreter = forms.ModelChoiceField(label=_("Interprète"), queryset=None)

    def __init__(self, *args, interpreters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["interpreter"].queryset = interpreters


class UploadReportForm(forms.Form):
    file = forms.FileField(label=_("Compte rendu (PDF)"))
    reason = forms.CharField(
        label=_("Motif de la rectification"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ComposeReportForm(forms.Form):
    conclusion = forms.ChoiceField(
        label=_("Conclusion"), choices=Report.Conclusion.choices, widget=forms.RadioSelect
    )
    variants = forms.CharField(
        label=_("Variants rapportés (un par ligne)"),
        required=False,
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Gène, variant HGVS, zygotie, classification ACMG."),
    )
    additional_findings = forms.CharField(
        label=_("Données additionnelles"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Rapportées seulement si la personne y a consenti."),
    )
    reason = forms.CharField(
        label=_("Motif de la rectification"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VerifyReportForm(forms.Form):
    file = forms.FileField(label=_("Compte rendu signé (PDF)"))
