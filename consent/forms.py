"""Forms of the consent screens. They parse; the services decide (and say what is wrong)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from people.models import User

from .models import Agreement, Choice3, PersonStatus, RelativesChoice, ResearchChoice, Withdrawal

YES_NO = [("yes", _("Oui, accepte l'analyse")), ("no", _("Non, refuse l'analyse"))]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return _("%(title)s — version %(number)s du %(since)s") % {
            "title": obj.template.title,
            "number": obj.number,
            "since": obj.effective_from.strftime("%d/%m/%Y"),
        }


class CollectorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.username


class ConsentForm(forms.Form):
    template_version = VersionChoiceField(
        label=_("Formulaire signé (modèle et version)"), queryset=None, required=False
    )
    person_status = forms.ChoiceField(label=_("Situation de la personne"), choices=PersonStatus.choices)
    signed_by_person = forms.BooleanField(label=_("Signé par la personne elle-même"), required=False)
    parent_signatory_1 = forms.CharField(
        label=_("Titulaire de l'autorité parentale (nom et prénom)"), max_length=200, required=False
    )
    parent_signatory_2 = forms.CharField(
        label=_("Second titulaire de l'autorité parentale (nom et prénom)"), max_length=200, required=False
    )
    legal_representative = forms.CharField(
        label=_("Représentant légal (nom, prénom et qualité)"), max_length=200, required=False
    )
    relative_signatory = forms.CharField(
        label=_("Proche signataire pour une personne décédée (nom, prénom et lien)"),
        max_length=200,
        required=False,
    )
    person_agreement = forms.ChoiceField(
        label=_("Accord de la personne mineure ou protégée elle-même"),
        choices=Agreement.choices,
        initial=Agreement.NOT_APPLICABLE,
    )
    analysis_accepted = forms.ChoiceField(
        label=_("Analyse du génome pour l'indication"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        required=False,
    )
    additional_findings = forms.ChoiceField(
        label=_("Données additionnelles"), choices=Choice3.choices, widget=forms.RadioSelect, required=False
    )
    research_reuse = forms.ChoiceField(
        label=_("Réutilisation des données pour la recherche (CAD)"),
        choices=ResearchChoice.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    relatives_information = forms.ChoiceField(
        label=_("Information de la parentèle"),
        choices=RelativesChoice.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    signed_on = forms.DateField(label=_("Date de signature"), widget=DateInput(), required=False)
    collected_by = CollectorChoiceField(label=_("Consentement recueilli par"), queryset=None, required=False)
    scan = forms.FileField(
        label=_("Formulaire signé numérisé"),
        help_text=_("PDF, JPEG ou PNG ; obligatoire."),
        required=False,
    )

    def __init__(self, *args, versions, collectors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template_version"].queryset = versions
        self.fields["collected_by"].queryset = collectors

    def service_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        answer = data.pop("analysis_accepted")
        data["analysis_accepted"] = {"yes": True, "no": False}.get(answer)
        return data


class WithdrawalForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("Ce que la personne retire"), choices=Withdrawal.Scope.choices, widget=forms.RadioSelect
    )
    withdrawn_on = forms.DateField(label=_("Date du retrait"), widget=DateInput(), required=False)
    reason = forms.CharField(
        label=_("Circonstances du retrait"),
        help_text=_("Par exemple : demande écrite reçue, consultation du …"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
    )
