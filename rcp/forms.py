"""Forms of the RCP-FMG screens: they parse input; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Decision, Meeting, SheetEntry


class MeetingForm(forms.Form):
    rcp = forms.ModelChoiceField(label=_("RCP-FMG"), queryset=None, empty_label=None)
    kind = forms.ChoiceField(
        label=_("Type de séance"), choices=Meeting.Kind.choices, initial=Meeting.Kind.UPSTREAM
    )
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    start_time = forms.TimeField(
        label=_("Heure"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    place = forms.CharField(label=_("Lieu"), max_length=200, required=False)
    video_link = forms.URLField(
        label=_("Lien de visioconférence"),
        required=False,
        assume_scheme="https",
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

    def __init__(self, *args, candidates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dossiers"].queryset = candidates
        self.fields["dossiers"].label_from_instance = lambda d: (
            f"{d.reference} — {d.pre_indication_version.name}"
        )


class AttendanceForm(forms.Form):
    present = forms.ModelMultipleChoiceField(
        label=_("Membres présents"), queryset=None, widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["present"].queryset = members


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Décision"), choices=Decision.Kind.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("Motif ou questions au prescripteur"),
        required=False,
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
    text = forms.CharField(label=_("Texte"), widget=forms.Textarea(attrs={"rows": 3}))


class PreparationForm(forms.Form):
    note = forms.CharField(label=_("Note de préparation"), widget=forms.Textarea(attrs={"rows": 3}))
    ready = forms.BooleanField(label=_("La fiche est prête pour la séance"), required=False)


class CorrectionForm(forms.Form):
    text = forms.CharField(label=_("Correction"), widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(label=_("Motif de la correction"), widget=forms.Textarea(attrs={"rows": 2}))


class ConclusionForm(forms.Form):
    interpretation = forms.CharField(
        label=_("Interprétation retenue"), widget=forms.Textarea(attrs={"rows": 3})
    )
    care_recommendations = forms.CharField(
        label=_("Recommandations de prise en charge"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    family_recommendations = forms.CharField(
        label=_("Recommandations pour la famille"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
