"""Forms of the prescribing journey. Every error is said at its field, in French, and nothing is saved
until the whole step is valid."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import nir

from ontology.validators import validate_hpo_id, validate_orpha_code

from .conditions import family_problems
from .models import DossierPerson, FamilyStructure, OnsetAge, PriorTest, Sex, TrioException

HTML = re.compile(r"<\s*[a-zA-Z/!?]|&#?\w+;")
NAME = re.compile(r"^[^\W\d_]+(?:[ '’-][^\W\d_]+)*$")


def no_html(value: str) -> None:
    if value and HTML.search(value):
        raise ValidationError(
            _("Le texte ne doit pas contenir de balises HTML ni d'entités (« < », « & »…).")
        )


def person_name(value: str) -> None:
    no_html(value)
    if value and not NAME.match(value.strip()):
        raise ValidationError(_("Lettres, espaces, traits d'union et apostrophes uniquement."))


def not_in_future(value: dt.date) -> None:
    if value and value > timezone.localdate():
        raise ValidationError(_("La date ne peut pas être dans le futur."))
    if value and value.year < 1900:
        raise ValidationError(_("La date est antérieure à 1900 : vérifiez l'année."))


DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATE_ERRORS = {"invalid": _("Date impossible : utilisez le format JJ/MM/AAAA et une date qui existe.")}


class TextField(forms.CharField):
    """A free-text field that refuses markup with a message rather than silently escaping it."""

    default_validators = [no_html]


class IdentityForm(forms.Form):
    birth_name = forms.CharField(label=_("Nom de naissance"), max_length=100, validators=[person_name])
    used_name = forms.CharField(
        label=_("Nom d'usage"), max_length=100, required=False, validators=[person_name]
    )
    first_names = forms.CharField(label=_("Prénom(s)"), max_length=200, validators=[person_name])
    date_of_birth = forms.DateField(
        label=_("Date de naissance"),
        required=False,
        widget=DATE_WIDGET,
        validators=[not_in_future],
        error_messages=DATE_ERRORS,
    )
    # Every choice starts blank: an untouched extra form then submits nothing, and no value is assumed.
    sex = forms.ChoiceField(label=_("Sexe"), choices=[("", "—"), *Sex.choices])
    ins = forms.CharField(
        label=_("INS / NIR"),
        required=False,
        max_length=21,
        help_text=_("15 chiffres (13 + clé de contrôle) ; 2A/2B pour la Corse."),
    )
    is_fetus = forms.BooleanField(label=_("Fœtus"), required=False)
    is_deceased = forms.BooleanField(label=_("Personne décédée"), required=False)

    def clean_ins(self) -> str:
        value = self.cleaned_data.get("ins", "")
        if not value:
            return ""
        try:
            return nir.validate(value)
        except StdnumError:
            raise ValidationError(
                _(
                    "Ce numéro INS/NIR n'est pas valide (15 caractères dont la clé de contrôle) : vérifiez la saisie."
                )
            ) from None

    def clean(self):
        data = super().clean()
        if not data.get("is_fetus") and not data.get("date_of_birth") and "date_of_birth" not in self.errors:
            self.add_error("date_of_birth", _("La date de naissance est obligatoire (sauf pour un fœtus)."))
        ins, born, sex = data.get("ins"), data.get("date_of_birth"), data.get("sex")
        if ins and sex in ("M", "F") and ins[0] in "12" and ins[0] != {"M": "1", "F": "2"}[sex]:
            self.add_error("ins", _("Le premier chiffre de l'INS ne correspond pas au sexe indiqué."))
        if ins and born and ins[1:3].isdigit() and int(ins[1:3]) != born.year % 100:
            self.add_error(
                "ins", _("L'année de naissance de l'INS ne correspond pas à la date de naissance.")
            )
        return data

    def identity(self) -> dict:
        return {k: self.cleaned_data[k] for k in self.base_fields if k in self.cleaned_data}


class IndexCaseForm(IdentityForm):
    affected = forms.ChoiceField(
        label=_("Statut clinique"),
        choices=DossierPerson.Affected.choices,
        initial=DossierPerson.Affected.AFFECTED,
    )


class RelativeForm(IdentityForm):
    relationship = forms.ChoiceField(
        label=_("Lien avec le cas index"),
        choices=[
            ("", "—"),
            *[c for c in DossierPerson.Relationship.choices if c[0] != DossierPerson.Relationship.INDEX],
        ],
    )
    affected = forms.ChoiceField(
        label=_("Statut clinique"), choices=[("", "—"), *DossierPerson.Affected.choices]
    )
    to_be_sequenced = forms.BooleanField(label=_("À séquencer"), required=False, initial=True)

    field_order = [
        "relationship",
        "birth_name",
        "used_name",
        "first_names",
        "date_of_birth",
        "sex",
        "ins",
        "affected",
        "is_fetus",
        "is_deceased",
        "to_be_sequenced",
    ]


class FilledFormsMixin:
    """Forms that carry an entry: blank extra forms and those ticked for removal are ignored (an unchanged
    initial form still counts: it is an entry saved earlier)."""

    key_field = ""

    def filled_forms(self):
        return [
            form
            for form in self.forms
            if (
                form.is_bound
                and form.is_valid()
                and form.cleaned_data.get(self.key_field)
                and not form.cleaned_data.get("DELETE")
            )
            or (form.is_bound and not form.is_valid() and form.has_changed())
        ]


class BaseRelativeFormSet(FilledFormsMixin, forms.BaseFormSet):
    key_field = "birth_name"

    def clean(self):
        super().clean()
        seen = set()
        for form in self.filled_forms():
            if not form.is_valid():
                continue
            key = form.cleaned_data.get("ins") or (
                form.cleaned_data["birth_name"].upper(),
                form.cleaned_data["first_names"].upper(),
                form.cleaned_data.get("date_of_birth"),
            )
            if key in seen:
                raise ValidationError(_("La même personne est saisie deux fois."))
            seen.add(key)


def bounded_formset_factory(form, formset, *, max_num: int, too_many: str, **kwargs):
    """A formset that never builds more than ``max_num`` forms, whatever TOTAL_FORMS a client sends (Django's
    default ``absolute_max`` is max_num + 1000: a thousand forms validated and rendered back), and says so."""
    bounded = type(
        formset.__name__,
        (formset,),
        {"default_error_messages": {**formset.default_error_messages, "too_many_forms": too_many}},
    )
    return forms.formset_factory(
        form, formset=bounded, max_num=max_num, absolute_max=max_num, validate_max=True, **kwargs
    )


RelativeFormSet = bounded_formset_factory(
    RelativeForm,
    BaseRelativeFormSet,
    extra=1,
    max_num=8,
    too_many=_("Une famille compte au plus %(num)d apparentés dans un dossier : retirez-en."),
)


class FamilyForm(forms.Form):
    structure = forms.ChoiceField(label=_("Structure familiale"), choices=FamilyStructure.choices)
    trio_exception = forms.ChoiceField(
        label=_("Exception au trio"), choices=[("", _("Aucune")), *TrioException.choices], required=False
    )
    trio_exception_reason = TextField(
        label=_("Justification de l'exception"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.version = version
        allowed = version.family_structures or FamilyStructure.values
        self.fields["structure"].choices = [c for c in FamilyStructure.choices if c[0] in allowed]

    def check_against(self, relatives: int) -> None:
        data = self.cleaned_data
        for problem in family_problems(
            self.version,
            data.get("structure", ""),
            relatives,
            data.get("trio_exception", ""),
            data.get("trio_exception_reason", ""),
        ):
            self.add_error(None, problem)


class PhenotypeForm(forms.Form):
    term = forms.CharField(
        label=_("Terme HPO"),
        max_length=300,
        widget=forms.TextInput(attrs={"list": "hpo-options", "autocomplete": "off", "data-hpo-search": "1"}),
        help_text=_("Tapez un mot (en anglais) ou un identifiant HP:…, puis choisissez dans la liste."),
    )
    present = forms.TypedChoiceField(
        label=_("Observé"),
        choices=[("1", _("Présent")), ("0", _("Absent (exclu)"))],
        coerce=lambda v: v == "1",
        initial="1",
    )

    def clean_term(self) -> str:
        match = re.search(r"HP:\d{7}", self.cleaned_data["term"].upper())
        if not match:
            raise ValidationError(
                _("Choisissez un terme HPO dans la liste (identifiant de la forme HP:0001250).")
            )
        validate_hpo_id(match.group(0))
        return match.group(0)


class BasePhenotypeFormSet(FilledFormsMixin, forms.BaseFormSet):
    key_field = "term"

    def clean(self):
        super().clean()
        terms = [f.cleaned_data["term"] for f in self.filled_forms() if f.is_valid()]
        if len(terms) != len(set(terms)):
            raise ValidationError(_("Un même terme HPO est saisi deux fois."))


PhenotypeFormSet = bounded_formset_factory(
    PhenotypeForm,
    BasePhenotypeFormSet,
    extra=3,
    max_num=60,
    too_many=_("Au plus %(num)d termes HPO : gardez les plus informatifs."),
)


class PriorTestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Examen"), choices=[("", "—"), *PriorTest.Kind.choices])
    performed_on = forms.DateField(
        label=_("Date"),
        required=False,
        widget=DATE_WIDGET,
        validators=[not_in_future],
        error_messages=DATE_ERRORS,
    )
    result = forms.ChoiceField(label=_("Résultat"), choices=[("", "—"), *PriorTest.Result.choices])
    details = TextField(label=_("Précisions"), max_length=500, required=False)


class BasePriorTestFormSet(FilledFormsMixin, forms.BaseFormSet):
    key_field = "kind"


PriorTestFormSet = bounded_formset_factory(
    PriorTestForm,
    BasePriorTestFormSet,
    can_delete=True,
    extra=1,
    max_num=20,
    too_many=_("Au plus %(num)d examens antérieurs : gardez les plus pertinents."),
)


class ClinicalForm(forms.Form):
    age_at_onset = forms.ChoiceField(
        label=_("Âge de début des signes"), choices=[("", "—"), *OnsetAge.choices], required=False
    )
    clinical_summary = TextField(
        label=_("Résumé clinique"), widget=forms.Textarea(attrs={"rows": 6}), max_length=5000
    )
    suspected_diagnosis = forms.CharField(
        label=_("Diagnostic suspecté (ORPHA, facultatif)"),
        required=False,
        max_length=300,
        widget=forms.TextInput(
            attrs={"list": "orpha-options", "autocomplete": "off", "data-orpha-search": "1"}
        ),
    )

    def clean_suspected_diagnosis(self) -> str:
        value = self.cleaned_data.get("suspected_diagnosis", "").strip()
        if not value:
            return ""
        match = re.search(r"ORPHA:\d+", value.upper())
        if not match:
            raise ValidationError(
                _("Choisissez une maladie dans la liste (identifiant de la forme ORPHA:558).")
            )
        validate_orpha_code(match.group(0))
        return match.group(0)


class DocumentForm(forms.Form):
    file = forms.FileField(label=_("Fichier (PDF, JPEG ou PNG)"))
    label = TextField(label=_("Intitulé"), max_length=200, required=False)


class SubmitForm(forms.Form):
    rcp = forms.ModelChoiceField(label=_("RCP-FMG à laquelle soumettre"), queryset=None, empty_label=None)
    attestation = forms.BooleanField(
        label=_(
            "J'atteste avoir vérifié ce dossier, que le patient (ou ses représentants) a été informé, et je "
            "soumets cette prescription à la RCP-FMG choisie."
        ),
        error_messages={"required": _("Cochez l'attestation pour soumettre la prescription.")},
    )

    def __init__(self, *args, rcps, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rcp"].queryset = rcps


class CriteriaForm(forms.Form):
    """The fiche's criteria as a checklist: each is met, or not met with a justification."""

    def __init__(self, *args, criteria: list[str], answers: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        previous = {a["criterion"]: a for a in answers or []}
        for i, criterion in enumerate(criteria):
            answer = previous.get(criterion, {})
            self.fields[f"crit_{i}"] = forms.ChoiceField(
                label=criterion,
                choices=[("yes", _("Rempli")), ("no", _("Non rempli"))],
                widget=forms.RadioSelect,
                initial={True: "yes", False: "no"}.get(answer.get("met")),
                error_messages={"required": _("Indiquez si ce critère est rempli.")},
            )
            self.fields[f"crit_{i}_justification"] = TextField(
                label=_("Justification si non rempli"),
                required=False,
                max_length=1000,
                initial=answer.get("justification", ""),
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def clean(self):
        data = super().clean()
        for i in range(len(self.criteria)):
            if data.get(f"crit_{i}") == "no" and not (data.get(f"crit_{i}_justification") or "").strip():
                self.add_error(f"crit_{i}_justification", _("Un critère non rempli doit être justifié."))
        return data

    def rows(self):
        return [(self[f"crit_{i}"], self[f"crit_{i}_justification"]) for i in range(len(self.criteria))]

    def checklist(self) -> list[dict]:
        return [
            {
                "criterion": c,
                "met": self.cleaned_data[f"crit_{i}"] == "yes",
                "justification": self.cleaned_data.get(f"crit_{i}_justification", "").strip(),
            }
            for i, c in enumerate(self.criteria)
        ]


class PrescriberChoiceForm(forms.Form):
    """For an assistant: the prescriber in whose name the dossier is prepared."""

    prescriber = forms.ModelChoiceField(
        label=_("Prescripteur"), queryset=None, empty_label=_("— Choisissez le prescripteur —")
    )

    def __init__(self, *args, prescribers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prescriber"].queryset = prescribers
