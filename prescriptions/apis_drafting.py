"""The prescribing journey through the API: a draft's content, its persons, phenotypes and documents, handing it
over and submitting it.

Every write validates with the prescribing pages' own forms (``forms``) and writes through their services
(``drafting``): the API accepts exactly what the pages accept and refuses with the same messages. A dossier
outside the user's scope, or one they may not edit, answers 404 as the pages do; a dossier no longer editable
answers the service's 403 with its message; a refused content answers 400 naming the field."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import drafting, selectors
from .apis import (
    REFUSAL,
    WRITE_ERRORS,
    DossierDetailSerializer,
    DossierPatchSerializer,
    dossier_for,
    refusals,
)
from .forms import (
    ClinicalForm,
    CriteriaForm,
    DocumentForm,
    FamilyForm,
    IndexCaseForm,
    PhenotypeFormSet,
    PriorTestFormSet,
    RelativeFormSet,
    SubmitForm,
)
from .models import Dossier, DossierPerson, PriorTest, Sex
from .pdf import current_prescription_summary_path
from .rules import REFUSAL_MESSAGES, TRANSITION_RULES, identities_hidden, may_edit_draft

INDEX = DossierPerson.Relationship.INDEX

# --- Shared steps of every write ---------------------------------------------------------------------------


def editable_dossier(request, reference: str) -> Dossier:
    """The dossier for a write of its draft: 404 outside the scope or to whoever may not edit it (the pages'
    rule, ``prescribing._draft``); the service's refusal (403, with its message) once it is no longer editable.
    Called inside the write's transaction: the dossier's row lock is held until the step is saved."""
    dossier = dossier_for(request, reference)
    if not may_edit_draft.test(request.user, dossier):
        raise NotFound(_("Dossier inconnu ou hors de votre périmètre."))
    with refusals():
        drafting.ensure_editable(dossier=dossier, actor=request.user)
    return dossier


def readable_identities(request, dossier: Dossier) -> None:
    """A withdrawn dossier's laboratory never identifies its persons: 404, as the pages' files."""
    if identities_hidden.test(request.user, dossier):
        raise NotFound(_("Dossier inconnu ou hors de votre périmètre."))


def form_errors(form, *, prefix: str = "") -> dict:
    """A form's errors as the API's 400 body: each field with its messages, the form's own under ``detail``."""
    body: dict = {}
    for field, errors in form.errors.items():
        key = "detail" if field == "__all__" else f"{prefix}{field}"
        body.setdefault(key, []).extend(str(e) for e in errors)
    if "detail" in body:
        body["detail"] = " ".join(body["detail"])
    return body


def refused(errors: dict | str) -> ValidationError:
    return ValidationError({"detail": errors} if isinstance(errors, str) else errors)


# --- PATCH /dossiers/{reference}/ ------------------------------------------------------------------------


PRE_INDICATION_FIELDS = ("pre_indication", "criteria_checklist")
FAMILY_FIELDS = ("family_structure", "trio_exception", "trio_exception_reason")
CLINICAL_FIELDS = ("age_at_onset", "clinical_summary", "suspected_diagnosis")


def _criteria_form(version, answers: list[dict]) -> CriteriaForm:
    """The page's checklist form, filled from the answers given by criterion."""
    by_criterion = {a.get("criterion"): a for a in answers}
    unknown = [c for c in by_criterion if c not in version.criteria]
    if unknown:
        raise refused(
            {
                "criteria_checklist": [
                    _("Critère inconnu pour cette pré-indication : « %(c)s ».") % {"c": c} for c in unknown
                ]
            }
        )
    data = {}
    for i, criterion in enumerate(version.criteria):
        answer = by_criterion.get(criterion, {})
        data[f"c-crit_{i}"] = {True: "yes", False: "no"}.get(answer.get("met"), "")
        data[f"c-crit_{i}_justification"] = answer.get("justification", "")
    return CriteriaForm(data, criteria=version.criteria, prefix="c")


def _criteria_errors(form: CriteriaForm) -> dict:
    messages = []
    for i, criterion in enumerate(form.criteria):
        for field in (f"crit_{i}", f"crit_{i}_justification"):
            messages += [f"{criterion} : {e}" for e in form.errors.get(field, [])]
    return {"criteria_checklist": messages}


def _current_relatives(dossier: Dossier) -> list[drafting.Relative]:
    return [
        drafting.Relative(
            relationship=p.relationship,
            affected=p.affected,
            identity=_identity_of(p),
            to_be_sequenced=p.to_be_sequenced,
            person_id=p.pk,
        )
        for p in _relatives(dossier)
    ]


def _relatives(dossier: Dossier) -> list[DossierPerson]:
    # The family step's order: the service pairs relatives with their earlier records by position.
    return list(dossier.persons.exclude(relationship=INDEX).select_related("patient").order_by("id"))


def _identity_of(person: DossierPerson) -> dict:
    return {k: getattr(person.patient, k) for k in drafting.IDENTITY_FIELDS}


def _clinical_kwargs(dossier: Dossier) -> dict:
    """The clinical step as stored, for a write that changes only part of it."""
    return {
        "phenotypes": [(p.term_id, p.present) for p in dossier.phenotypes.all()],
        "age_at_onset": dossier.age_at_onset,
        "summary": dossier.clinical_summary,
        "prior_tests": [
            {"kind": t.kind, "performed_on": t.performed_on, "result": t.result, "details": t.details}
            for t in dossier.prior_tests.all()
        ],
        "suspected_diagnosis": dossier.suspected_diagnosis,
    }


def patch_dossier(request, dossier: Dossier, data: dict) -> None:
    """Each step the body touches, validated by its page's form, then saved by its service."""
    from ontology.selectors import get_orpha_disease

    sent = set(data)
    steps = []
    if sent & set(PRE_INDICATION_FIELDS):
        version = dossier.pre_indication_version
        if "pre_indication" in data and data["pre_indication"] != version.pre_indication.slug:
            from .apis import DossierCreateSerializer

            try:
                version = DossierCreateSerializer().validate_pre_indication(data["pre_indication"])
            except serializers.ValidationError as exc:
                raise refused({"pre_indication": exc.detail}) from None
        if "criteria_checklist" in data:
            answers = data["criteria_checklist"]
        elif version == dossier.pre_indication_version:
            answers = dossier.criteria_checklist or []
        else:
            answers = []
        form = _criteria_form(version, answers)
        if not form.is_valid():
            raise refused(_criteria_errors(form))
        steps.append(
            lambda: drafting.save_pre_indication(
                dossier=dossier, actor=request.user, version=version, checklist=form.checklist()
            )
        )
    if sent & set(FAMILY_FIELDS):
        family = FamilyForm(
            {
                "structure": data.get("family_structure", dossier.family_structure),
                "trio_exception": data.get("trio_exception", dossier.trio_exception),
                "trio_exception_reason": data.get("trio_exception_reason", dossier.trio_exception_reason),
            },
            version=dossier.pre_indication_version,
        )
        relatives = _current_relatives(dossier)
        if family.is_valid():
            family.check_against(len(relatives))
        if not family.is_valid():
            raise refused(_renamed(family, {"structure": "family_structure"}))
        steps.append(
            lambda: drafting.save_family(
                dossier=dossier,
                actor=request.user,
                structure=family.cleaned_data["structure"],
                relatives=relatives,
                trio_exception=family.cleaned_data.get("trio_exception", ""),
                trio_exception_reason=family.cleaned_data.get("trio_exception_reason", ""),
            )
        )
    if sent & set(CLINICAL_FIELDS):
        stored = _clinical_kwargs(dossier)
        clinical = ClinicalForm(
            {
                "age_at_onset": data.get("age_at_onset", dossier.age_at_onset),
                "clinical_summary": data.get("clinical_summary", dossier.clinical_summary),
                "suspected_diagnosis": data.get(
                    "suspected_diagnosis",
                    dossier.suspected_diagnosis.pk if dossier.suspected_diagnosis else "",
                ),
            }
        )
        if not clinical.is_valid():
            raise refused(form_errors(clinical))
        code = clinical.cleaned_data["suspected_diagnosis"]
        stored.update(
            age_at_onset=clinical.cleaned_data["age_at_onset"],
            summary=clinical.cleaned_data["clinical_summary"],
            suspected_diagnosis=get_orpha_disease(code) if code else None,
        )
        steps.append(lambda: drafting.save_clinical_picture(dossier=dossier, actor=request.user, **stored))
    for step in steps:
        with refusals():
            step()


def _renamed(form, names: dict) -> dict:
    """The page's field names where the API names them otherwise (``structure`` is ``family_structure``)."""
    body = form_errors(form)
    return {names.get(k, k): v for k, v in body.items() if k in names} | {
        k: v for k, v in body.items() if k not in names
    }


def partial_update(request: Request, reference: str) -> Response:
    with transaction.atomic():
        dossier = editable_dossier(request, reference)  # scope and editability before the body is read
        body = DossierPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sent = {k: v for k, v in body.validated_data.items() if k in request.data}
        if "criteria_checklist" in sent:
            sent["criteria_checklist"] = [dict(a) for a in sent["criteria_checklist"]]
        patch_dossier(request, dossier, sent)
    dossier = dossier_for(request, reference)
    return Response(DossierDetailSerializer(dossier, context={"request": request}).data)


def hand_over(request: Request, reference: str) -> Response:
    with transaction.atomic():
        dossier = editable_dossier(request, reference)
        with refusals():
            drafting.hand_over(dossier=dossier, assistant=request.user)
    dossier = dossier_for(request, reference)
    return Response(DossierDetailSerializer(dossier, context={"request": request}).data)


# --- Persons ------------------------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    relationship = serializers.ChoiceField(choices=DossierPerson.Relationship.choices)
    affected = serializers.ChoiceField(choices=DossierPerson.Affected.choices)
    to_be_sequenced = serializers.BooleanField(default=True)
    birth_name = serializers.CharField(source="patient.birth_name", max_length=100)
    used_name = serializers.CharField(
        source="patient.used_name", max_length=100, allow_blank=True, default=""
    )
    first_names = serializers.CharField(source="patient.first_names", max_length=200)
    date_of_birth = serializers.DateField(source="patient.date_of_birth", allow_null=True, default=None)
    sex = serializers.ChoiceField(source="patient.sex", choices=Sex.choices)
    ins = serializers.CharField(source="patient.ins", allow_blank=True, default="", max_length=21)
    is_fetus = serializers.BooleanField(source="patient.is_fetus", default=False)
    is_deceased = serializers.BooleanField(source="patient.is_deceased", default=False)


class PersonWriteSerializer(serializers.Serializer):
    """A person as the patient and family steps take them. For the index case, ``reuse_patient`` names a known
    patient offered in a refusal's ``candidates`` (identity vigilance: the same person is never entered twice),
    ``new_patient`` says the person is not any of them."""

    relationship = serializers.ChoiceField(choices=DossierPerson.Relationship.choices)
    affected = serializers.ChoiceField(choices=DossierPerson.Affected.choices)
    to_be_sequenced = serializers.BooleanField(required=False, default=True)
    birth_name = serializers.CharField(max_length=100)
    used_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_names = serializers.CharField(max_length=200)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    sex = serializers.ChoiceField(choices=Sex.choices)
    ins = serializers.CharField(max_length=21, required=False, allow_blank=True)
    is_fetus = serializers.BooleanField(required=False, default=False)
    is_deceased = serializers.BooleanField(required=False, default=False)
    reuse_patient = serializers.IntegerField(required=False, allow_null=True)
    new_patient = serializers.BooleanField(required=False, default=False)


class PersonPatchSerializer(PersonWriteSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


PERSON_INPUT = (*drafting.IDENTITY_FIELDS, "relationship", "affected", "to_be_sequenced")


def _person_values(person: DossierPerson | None) -> dict:
    if person is None:
        return {}
    return {
        **_identity_of(person),
        "relationship": person.relationship,
        "affected": person.affected,
        "to_be_sequenced": person.to_be_sequenced,
        "person_id": person.pk,
    }


def _form_value(value):
    return "" if value is None else value


class KnownPatients(Exception):
    """Patients already known (in the user's scope) with the identity typed for the index case: offered, as
    the patient page offers them, rather than duplicated."""

    def __init__(self, candidates) -> None:
        super().__init__()
        self.candidates = candidates

    def response(self) -> Response:
        body = {
            "detail": _(
                "Une personne déjà connue a la même identité : reprenez-la (reuse_patient) ou indiquez qu'il "
                "s'agit d'une autre personne (new_patient)."
            ),
            "candidates": [
                {
                    "id": p.pk,
                    "birth_name": p.birth_name,
                    "used_name": p.used_name,
                    "first_names": p.first_names,
                    "date_of_birth": p.date_of_birth,
                    "sex": p.sex,
                }
                for p in self.candidates
            ],
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)


def save_index(request, dossier: Dossier, values: dict, index: DossierPerson | None) -> DossierPerson:
    """The patient step: the page's form, the known patients offered rather than duplicated, the service."""
    form = IndexCaseForm({k: _form_value(v) for k, v in values.items()})
    if not form.is_valid():
        raise refused(form_errors(form))
    identity = form.identity()
    current = index.patient if index else None
    candidates = [p for p in selectors.known_patients(request.user, identity) if p != current]
    reuse_pk, new = values.get("reuse_patient"), bool(values.get("new_patient"))
    reuse = next((p for p in candidates if p.pk == reuse_pk), None) if reuse_pk else None
    if reuse_pk and reuse is None:
        raise refused({"reuse_patient": [str(drafting.INS_REFUSED)]})
    if candidates and reuse is None and not new:
        raise KnownPatients(candidates)
    return _with_identity_refusals(
        lambda: drafting.save_index_case(
            dossier=dossier,
            actor=request.user,
            identity=identity,
            affected=form.cleaned_data["affected"],
            reuse=reuse,
            new=new,
        )
    )


def _with_identity_refusals(call, position: int | None = None):
    """An identity refused (INS_REFUSED, SHARED_IDENTITY) at its fields, for the person written; the other
    refusals as ``refusals()`` answers them."""
    with refusals():
        try:
            return call()
        except drafting.IdentityRefused as exc:
            errors = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
            if position is not None and exc.position is not None and exc.position != position:
                raise refused(
                    _("Apparenté·e n° %(n)d : %(e)s")
                    % {"n": exc.position + 1, "e": " ".join(m for v in errors.values() for m in v)}
                ) from None
            raise refused(errors) from None


def save_relatives(request, dossier: Dossier, family: list[dict], position: int | None) -> int | None:
    """The family step with the relatives ``family`` (each with its ``person_id``, None for a new one;
    ``position`` is the one written): the page's formset (each identity, the same person twice, at most
    eight), then the service, the structure unchanged. The written relative's id (a corrected identity may
    link them to another patient record: a new row)."""
    data = {
        "rel-TOTAL_FORMS": str(len(family)),
        "rel-INITIAL_FORMS": str(len(family)),  # every entry is validated whole: none is a blank extra
        "rel-MIN_NUM_FORMS": "0",
        "rel-MAX_NUM_FORMS": "1000",
    }
    for i, values in enumerate(family):
        for key in PERSON_INPUT:
            if key in values:
                data[f"rel-{i}-{key}"] = _form_value(values[key])
    formset = RelativeFormSet(data, prefix="rel")
    if not formset.is_valid():
        body: dict = {}
        for i, form in enumerate(formset.forms):
            if not form.errors:
                continue
            if i == position:
                body |= form_errors(form)
            else:
                body.setdefault("detail", [])
                body["detail"].append(
                    _("Apparenté·e n° %(n)d : %(e)s")
                    % {"n": i + 1, "e": " ".join(str(e) for v in form.errors.values() for e in v)}
                )
        if formset.non_form_errors():
            body.setdefault("detail", []).extend(str(e) for e in formset.non_form_errors())
        if isinstance(body.get("detail"), list):
            body["detail"] = " ".join(body["detail"])
        raise refused(body)
    relatives = [
        drafting.Relative(
            relationship=f.cleaned_data["relationship"],
            affected=f.cleaned_data["affected"],
            identity=f.identity(),
            to_be_sequenced=f.cleaned_data.get("to_be_sequenced", False),
            person_id=values.get("person_id"),
        )
        for f, values in zip(formset.forms, family, strict=True)
    ]
    _with_identity_refusals(
        lambda: drafting.save_family(
            dossier=dossier,
            actor=request.user,
            structure=dossier.family_structure,
            relatives=relatives,
            trio_exception=dossier.trio_exception,
            trio_exception_reason=dossier.trio_exception_reason,
        ),
        position,
    )
    if position is None:
        return None
    written = family[position].get("person_id")
    rows = dossier.persons.exclude(relationship=INDEX).order_by("-id")
    if written is not None and rows.filter(pk=written).exists():
        return written
    return rows.values_list("pk", flat=True).first()


class DossierPersonViewSet(viewsets.GenericViewSet):
    """The persons of a dossier: the index case and the relatives, with their identities. Writes go through the
    patient and family steps (identity vigilance included). The family structure's consistency with the
    number of relatives is checked when the structure is set (PATCH on the dossier) and at submission."""

    serializer_class = PersonSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    lookup_value_regex = r"\d{1,18}"

    def get_queryset(self):  # the schema generator's; every action reads through dossier_for
        return DossierPerson.objects.none()

    def _person(self, dossier: Dossier, pk: str) -> DossierPerson:
        person = next((p for p in dossier.persons.all() if str(p.pk) == str(pk)), None)
        if person is None:
            raise NotFound(_("Personne inconnue dans ce dossier."))
        return person

    def _answer(self, request, reference: str, person_pk: int, code=status.HTTP_200_OK) -> Response:
        dossier = dossier_for(request, reference)
        return Response(PersonSerializer(self._person(dossier, person_pk)).data, status=code)

    @extend_schema(responses={200: PersonSerializer(many=True), 404: REFUSAL})
    def list(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        readable_identities(request, dossier)
        return Response(PersonSerializer(dossier.persons.all(), many=True).data)

    @extend_schema(responses={200: PersonSerializer, 404: REFUSAL})
    def retrieve(self, request: Request, reference: str, pk: str) -> Response:
        dossier = dossier_for(request, reference)
        readable_identities(request, dossier)
        return Response(PersonSerializer(self._person(dossier, pk)).data)

    @extend_schema(request=PersonWriteSerializer, responses={201: PersonSerializer, **WRITE_ERRORS})
    def create(self, request: Request, reference: str) -> Response:
        try:
            person_pk = self._create(request, reference)
        except KnownPatients as known:
            return known.response()
        return self._answer(request, reference, person_pk, status.HTTP_201_CREATED)

    def _create(self, request: Request, reference: str) -> int:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            body = PersonWriteSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            values = {
                k: v for k, v in body.validated_data.items() if k in request.data or k == "to_be_sequenced"
            }
            if values["relationship"] == INDEX:
                if any(p.relationship == INDEX for p in dossier.persons.all()):
                    raise refused(_("Le cas index est déjà renseigné : corrigez-le (PATCH) plutôt."))
                person_pk = save_index(request, dossier, values, None).pk
            else:
                family = [_person_values(p) for p in _relatives(dossier)]
                person_pk = save_relatives(request, dossier, [*family, values], position=len(family))
        return person_pk

    @extend_schema(request=PersonPatchSerializer, responses={200: PersonSerializer, **WRITE_ERRORS})
    def partial_update(self, request: Request, reference: str, pk: str) -> Response:
        try:
            person_pk = self._update(request, reference, pk)
        except KnownPatients as known:
            return known.response()
        return self._answer(request, reference, person_pk)

    def _update(self, request: Request, reference: str, pk: str) -> int:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            person = self._person(dossier, pk)
            body = PersonPatchSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            changes = {k: v for k, v in body.validated_data.items() if k in request.data}
            if changes.get("relationship", person.relationship) != person.relationship and INDEX in (
                person.relationship,
                changes.get("relationship"),
            ):
                raise refused({"relationship": [_("Le cas index ne change pas de place dans la famille.")]})
            if person.relationship == INDEX:
                person_pk = save_index(request, dossier, _person_values(person) | changes, person).pk
            else:
                relatives = _relatives(dossier)
                position = next(i for i, p in enumerate(relatives) if p.pk == person.pk)
                family = [_person_values(p) for p in relatives]
                family[position] |= changes
                person_pk = save_relatives(request, dossier, family, position)
        return person_pk

    @extend_schema(request=None, responses={204: None, **WRITE_ERRORS})
    def destroy(self, request: Request, reference: str, pk: str) -> Response:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            person = self._person(dossier, pk)
            if person.relationship == INDEX:
                raise refused(_("Le cas index ne se retire pas du dossier : corrigez son identité."))
            relatives = _relatives(dossier)
            save_relatives(
                request,
                dossier,
                [_person_values(p) for p in relatives if p.pk != person.pk],
                position=None,
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Phenotypes and prior tests ---------------------------------------------------------------------------


class PhenotypeSerializer(serializers.Serializer):
    hpo = serializers.RegexField(r"^HP:\d{7}$", max_length=10, help_text="HP:0001250")
    present = serializers.BooleanField(default=True)
    label = serializers.CharField(read_only=True)


class PriorTestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PriorTest.Kind.choices)
    performed_on = serializers.DateField(required=False, allow_null=True)
    result = serializers.ChoiceField(choices=PriorTest.Result.choices)
    details = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class ClinicalPictureSerializer(serializers.Serializer):
    phenotypes = PhenotypeSerializer(many=True)
    prior_tests = PriorTestSerializer(
        many=True, required=False, help_text=_("Absent : les examens antérieurs enregistrés sont gardés.")
    )


def clinical_picture(dossier: Dossier) -> dict:
    return {
        "phenotypes": [
            {"hpo": p.term_id, "present": p.present, "label": p.term.name} for p in dossier.phenotypes.all()
        ],
        "prior_tests": [
            {"kind": t.kind, "performed_on": t.performed_on, "result": t.result, "details": t.details}
            for t in dossier.prior_tests.all()
        ],
    }


def _formset_errors(formset, name: str, key: str) -> dict:
    """A formset's errors under ``name``, each naming its entry (the HPO id, the test) unless it already does."""
    messages = []
    for i, form in enumerate(formset.forms):
        entry = str(form.data.get(f"{formset.prefix}-{i}-{key}", i + 1))
        for errors in form.errors.values():
            messages += [str(e) if entry in str(e) else f"{entry} : {e}" for e in errors]
    messages += [str(e) for e in formset.non_form_errors()]
    return {name: messages}


def _bound_formset(formset_class, prefix: str, rows: list[dict]):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(len(rows)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = _form_value(value)
    return formset_class(data, prefix=prefix)


class DossierPhenotypesView(APIView):
    """The index case's HPO terms (present or explicitly absent) and the prior genetic tests: the clinical
    step's lists. PUT replaces them, validated by the page's forms (a known, current HPO term of the
    phenotypic-abnormality branch, each once, at least one present)."""

    parser_classes = [JSONParser]

    @extend_schema(responses={200: ClinicalPictureSerializer, 404: REFUSAL})
    def get(self, request: Request, reference: str) -> Response:
        return Response(ClinicalPictureSerializer(clinical_picture(dossier_for(request, reference))).data)

    @extend_schema(
        request=ClinicalPictureSerializer, responses={200: ClinicalPictureSerializer, **WRITE_ERRORS}
    )
    def put(self, request: Request, reference: str) -> Response:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            body = ClinicalPictureSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            phenotypes = _bound_formset(
                PhenotypeFormSet,
                "hpo",
                [
                    {"term": p["hpo"], "present": "1" if p["present"] else "0"}
                    for p in body.validated_data["phenotypes"]
                ],
            )
            errors = {} if phenotypes.is_valid() else _formset_errors(phenotypes, "phenotypes", "term")
            terms = [
                (f.cleaned_data["term"], f.cleaned_data["present"]) for f in phenotypes.forms if f.is_valid()
            ]
            if not errors and not any(present for _term, present in terms):
                errors["phenotypes"] = [_("Indiquez au moins un terme HPO présent chez le cas index.")]
            stored = _clinical_kwargs(dossier)
            if "prior_tests" in body.validated_data:
                tests = _bound_formset(PriorTestFormSet, "test", body.validated_data["prior_tests"])
                if tests.is_valid():
                    stored["prior_tests"] = [
                        {k: f.cleaned_data[k] for k in ("kind", "performed_on", "result", "details")}
                        for f in tests.forms
                    ]
                else:
                    errors |= _formset_errors(tests, "prior_tests", "kind")
            if errors:
                raise refused(errors)
            stored["phenotypes"] = terms
            with refusals():
                drafting.save_clinical_picture(dossier=dossier, actor=request.user, **stored)
        return Response(ClinicalPictureSerializer(clinical_picture(dossier_for(request, reference))).data)


# --- Documents ----------------------------------------------------------------------------------------------


class DossierDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    expected = serializers.IntegerField(source="expected_id", allow_null=True)
    original_name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    download = serializers.SerializerMethodField()

    def get_download(self, document) -> str:
        return reverse(
            "dossier-document-download",
            kwargs={"reference": self.context["reference"], "pk": document.pk},
        )


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("PDF, JPEG ou PNG (type lu dans le contenu)."))
    label = serializers.CharField(required=False, allow_blank=True, max_length=200)
    expected = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("Le document attendu par la fiche qu'il fournit.")
    )


class DossierDocumentViewSet(viewsets.GenericViewSet):
    """The documents of a dossier: metadata, the file itself (recorded as a download), upload and removal
    while the dossier is editable. A withdrawn dossier's laboratory reaches none of them (404)."""

    serializer_class = DossierDocumentSerializer
    parser_classes = [MultiPartParser, FormParser]
    lookup_value_regex = r"\d{1,18}"

    def get_queryset(self):  # the schema generator's; every action reads through dossier_for
        return Dossier.objects.none()

    def _readable(self, request, reference: str) -> Dossier:
        dossier = dossier_for(request, reference)
        readable_identities(request, dossier)
        return dossier

    def _document(self, dossier: Dossier, pk: str):
        document = next((d for d in dossier.documents.all() if str(d.pk) == str(pk)), None)
        if document is None:
            raise NotFound(_("Document inconnu dans ce dossier."))
        return document

    def _data(self, documents, reference: str, many: bool = False):
        return DossierDocumentSerializer(documents, many=many, context={"reference": reference}).data

    @extend_schema(responses={200: DossierDocumentSerializer(many=True), 404: REFUSAL})
    def list(self, request: Request, reference: str) -> Response:
        dossier = self._readable(request, reference)
        return Response(self._data(dossier.documents.all(), reference, many=True))

    @extend_schema(responses={200: DossierDocumentSerializer, 404: REFUSAL})
    def retrieve(self, request: Request, reference: str, pk: str) -> Response:
        dossier = self._readable(request, reference)
        return Response(self._data(self._document(dossier, pk), reference))

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/png"): OpenApiTypes.BINARY,
            404: REFUSAL,
        }
    )
    @action(detail=True, methods=["get"], url_path="download", url_name="download")
    def download(self, request: Request, reference: str, pk: str):
        dossier = self._readable(request, reference)
        document = self._document(dossier, pk)
        response = FileResponse(
            document.file.open("rb"),
            content_type=document.content_type,
            as_attachment=True,
            filename=f"{dossier.reference}-{document.pk}{document.extension}",
        )
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={201: DossierDocumentSerializer, **WRITE_ERRORS},
    )
    def create(self, request: Request, reference: str) -> Response:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            form = DocumentForm(request.data, request.FILES)
            if not form.is_valid():
                raise refused(form_errors(form))
            expected = None
            expected_id = str(request.data.get("expected") or "")
            if expected_id:
                expected = next(
                    (d for d in dossier.pre_indication_version.documents.all() if str(d.pk) == expected_id),
                    None,
                )
                if expected is None:
                    raise refused(
                        {"expected": [_("Ce document n'est pas attendu pour cette pré-indication.")]}
                    )
            with refusals():
                try:
                    document = drafting.add_document(
                        dossier=dossier,
                        actor=request.user,
                        uploaded=form.cleaned_data["file"],
                        expected=expected,
                        label=form.cleaned_data["label"],
                    )
                except DjangoValidationError as exc:  # what is wrong with the file (drafting.check_upload)
                    raise refused({"file": exc.messages}) from None
        return Response(self._data(document, reference), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, **WRITE_ERRORS})
    def destroy(self, request: Request, reference: str, pk: str) -> Response:
        with transaction.atomic():
            dossier = editable_dossier(request, reference)
            document = self._document(dossier, pk)
            with refusals():
                drafting.remove_document(dossier=dossier, actor=request.user, document=document)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Submission: the ``submit`` transition --------------------------------------------------------------


class SubmitBodySerializer(serializers.Serializer):
    rcp = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=_("La RCP-FMG (identifiant) : une de celles de la pré-indication."),
    )
    attest = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "L'attestation du prescripteur : il a vérifié le dossier, le patient (ou ses représentants) a été "
            "informé ; obligatoire."
        ),
    )


def submit_through_api(*, dossier: Dossier, actor, data: dict, request) -> None:
    """The review page's submission: the prescriber's own (the transition's rule), the page's form (an RCP
    allowed for the pre-indication, the attestation ticked), then ``attest_and_submit``."""
    if not TRANSITION_RULES["submit"].test(actor, dossier):
        raise PermissionDenied(REFUSAL_MESSAGES["submit"])
    form = SubmitForm(
        {"rcp": _form_value(data.get("rcp")), "attestation": bool(data.get("attest"))},
        rcps=selectors.allowed_rcps(dossier.pre_indication_version),
    )
    if not form.is_valid():
        # The attestation's message says what to do; the RCP's is a field's, named by its label.
        raise DjangoValidationError(
            [
                f"{form.fields[name].label} : {e}" if name == "rcp" else str(e)
                for name, errors in form.errors.items()
                for e in errors
            ]
        )
    drafting.attest_and_submit(dossier=dossier, prescriber=actor, rcp=form.cleaned_data["rcp"])


# --- The prescription summary -------------------------------------------------------------------------------


class PrescriptionSummaryView(APIView):
    """``GET /api/v1/dossiers/{reference}/summary/``: the prescription summary (PDF) of a submitted dossier, as
    the dossier's page serves it (``pdf_views.prescription_summary_pdf``): to whoever may see the dossier, never
    a draft's, never to the laboratory of a withdrawn dossier (404). Recorded as a download."""

    def perform_content_negotiation(self, request, force=False):
        # Asked for by its type (``Accept: application/pdf``), the file is sent; a refusal is JSON all the same.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: REFUSAL},
        description="The prescription summary (PDF) of a dossier once submitted, rendered afresh if outdated.",
    )
    def get(self, request: Request, reference: str) -> FileResponse:
        dossier = dossier_for(request, reference)
        if dossier.status == Dossier.Status.DRAFT:  # a draft is not a prescription yet
            raise NotFound(_("Un brouillon n'a pas encore de bon de prescription."))
        readable_identities(request, dossier)
        response = FileResponse(
            default_storage.open(current_prescription_summary_path(dossier), "rb"),
            content_type="application/pdf",
            as_attachment=True,
            filename=f"{dossier.reference}-bon-de-prescription.pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response
