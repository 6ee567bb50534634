"""Forms of the RCP-FMG screens: they parse input; the services decide."""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Decision, Meeting, SheetEntry

# The RCP-FMG of the PFMG 2025 exist since 2016; a meeting is not planned more than two years ahead.
FIRST_MEETING_YEAR = 2016
PLANNING_HORIZON_DAYS = 2 * 365


def plausible_meeting_date(value: dt.date) -> None:
    if value.year < FIRST_MEETING_YEAR:
        raise ValidationError(
            _("Une séance ne peut pas être antérieure à %(year)d (début du PFMG 2025) : vérifiez l'année."),
            params={"year": FIRST_MEETING_YEAR},
        )
    if value > timezone.localdate() + dt.timedelta(days=PLANNING_HORIZON_DAYS):
        raise ValidationError(_("Une séance se planifie au plus deux ans à l'avance : vérifiez l'année."))


class MeetingForm(forms.Form):
    rcp = forms.ModelChoiceField(label=_("RCP-FMG"), queryset=None, empty_label=None)
    kind = forms.ChoiceField(
        label=_("Type de séance"), choices=Meeting.Kind.choices, initial=Meeting.Kind.UPSTREAM
    )
    date = forms.DateField(
        label=_("Date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        validators=[plausible_meeting_date],
    )
    start_time = forms.TimeField(
        label=_("Heure"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    place = forms.CharField(label=_("Lieu"), max_length=200, required=False)
    video_link = forms.URLField(
        label=_("Lien de visioconférence"),
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text=_("Le lieu, le lien, ou les deux."),
    )

    def __init__(self, *args, rcps=None, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["rcp"], self.fields["kind"]
        else:
            self.fields["rcp"].queryset = rcps

    def clean(self):
        data = super().clean()
        if not (data.get("place") or "").strip() and not (data.get("video_link") or "").strip():
            raise forms.ValidationError(_("Indiquez le lieu de la séance ou son lien de visioconférence."))
        return data


class AgendaForm(forms.Form):
    dossiers = forms.ModelMultipleChoiceField(
        label=_("Dossiers à inscrire"), queryset=None, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, candidates=None, shown=None, **kwargs):
        """``candidates``: every dossier the agenda may take, to check what is posted (by primary key);
        ``shown``: the few of them the page offers (the oldest, or those searched), never the whole queue."""
        super().__init__(*args, **kwargs)
        field = self.fields["dossiers"]
        field.queryset = candidates
        field.label_from_instance = lambda d: f"{d.reference} — {d.pre_indication_version.name}"
        if shown is not None:
            field.choices = [(d.pk, field.label_from_instance(d)) for d in shown]


class AttendanceForm(forms.Form):
    present = forms.ModelMultipleChoiceField(
        label=_("Membres présents"), queryset=None, widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, members=None, shown=None, **kwargs):
        """``members``: to check what is posted; ``shown``: the same members, already read (no second query)."""
        super().__init__(*args, **kwargs)
        field = self.fields["present"]
        field.queryset = members
        if shown is not None:
            field.choices = [(u.pk, field.label_from_instance(u)) for u in shown]


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Décision"), choices=Decision.Kind.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Motif ou questions au prescripteur"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Obligatoire pour un avis défavorable (le motif) et une demande de complément (les questions)."
        ),
    )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in Decision.REASON_REQUIRED and not (data.get("reason") or "").strip():
            from .services import DECISION_REASON_MISSING

            self.add_error("reason", str(DECISION_REASON_MISSING[kind]))
        return data


class SheetEntryForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[
            (SheetEntry.Kind.CORRECTION, SheetEntry.Kind.CORRECTION.label),
            (SheetEntry.Kind.ADDITION, SheetEntry.Kind.ADDITION.label),
        ],
        initial=SheetEntry.Kind.ADDITION,
    )
    field = forms.ChoiceField(label=_("Rubrique"), choices=SheetEntry.Field.choices)
    text = forms.CharField(label=_("Texte"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))


class PreparationForm(forms.Form):
    note = forms.CharField(
        label=_("Note de préparation"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    ready = forms.BooleanField(label=_("La fiche est prête pour la séance"), required=False)


class CorrectionForm(forms.Form):
    text = forms.CharField(label=_("Correction"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(
        label=_("Motif de la correction"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class ConclusionForm(forms.Form):
    interpretation = forms.CharField(
        label=_("Interprétation retenue"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    care_recommendations = forms.CharField(
        label=_("Recommandations de prise en charge"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    family_recommendations = forms.CharField(
        label=_("Recommandations pour la famille"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
