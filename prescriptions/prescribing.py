"""Views of the prescribing journey: six steps, each saved as a draft, then attestation and submission.

Thin on purpose: forms parse and say what is wrong, ``drafting`` writes, ``selectors`` read within the user's
scope (a dossier outside it answers 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import drafting, selectors
from .conditions import SUBMIT_CONTENT_CONDITIONS, missing_documents, missing_for
from .forms import (
    ClinicalForm,
    CriteriaForm,
    DocumentForm,
    FamilyForm,
    IndexCaseForm,
    PhenotypeFormSet,
    PrescriberChoiceForm,
    PriorTestFormSet,
    RelativeFormSet,
    SubmitForm,
)
from .models import Dossier, DossierPerson, PreIndicationVersion
from .rules import may_edit_draft
from .services import TransitionRefused

STEP_LABELS = {  # lazy: translated in the language of each request, not the one active at import
    "pre-indication": gettext_lazy("Pré-indication"),
    "patient": gettext_lazy("Patient"),
    "famille": gettext_lazy("Famille"),
    "clinique": gettext_lazy("Clinique"),
    "documents": gettext_lazy("Documents"),
    "validation": gettext_lazy("Vérification et envoi"),
}


def _draft(request, pk: int) -> Dossier:
    try:
        dossier = selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    if not may_edit_draft.test(request.user, dossier):
        raise Http404
    if dossier.status not in (Dossier.Status.DRAFT, Dossier.Status.MORE_INFO_REQUESTED):
        messages.info(request, _("Ce dossier n'est plus modifiable."))
        raise _Redirect(reverse("dossier_detail", args=[dossier.pk]))
    return dossier


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _step_view(func):
    """Login required, the draft loaded in scope, redirects raised by the loader honoured."""

    @login_required
    def wrapper(request, pk: int, *args, **kwargs):
        try:
            dossier = _draft(request, pk)
        except _Redirect as r:
            return redirect(r.url)
        return func(request, dossier, *args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


def _context(dossier: Dossier, step: str, **extra) -> dict:
    return {
        "dossier": dossier,
        "step": step,
        "steps": [(s, STEP_LABELS[s], s in dossier.steps_done) for s in drafting.STEPS],
        "questions": selectors.more_info_questions(dossier),
        **extra,
    }


def _next(dossier: Dossier, step: str):
    following = drafting.STEPS[drafting.STEPS.index(step) + 1]
    return redirect("prescribe_step", pk=dossier.pk, step=following)


@login_required
def start(request):
    """Step 1 for a new dossier: choose the pre-indication (and, for an assistant, the prescriber)."""
    prescribers = selectors.prescribers_for(request.user)
    count = prescribers.count()
    if not count:
        raise PermissionDenied(
            _("Seuls les prescripteurs et leurs assistant·e·s de prescription prescrivent.")
        )
    query = request.GET.get("q", "").strip()[:100]
    versions = selectors.prescribable_versions(query)
    chosen = _chosen_version(request.POST.get("version") or request.GET.get("choix"))
    criteria_form = prescriber_form = None
    if chosen is not None:
        data = request.POST if request.method == "POST" else None
        criteria_form = CriteriaForm(data, criteria=chosen.criteria, prefix="c")
        prescriber_form = PrescriberChoiceForm(
            data,
            prescribers=prescribers,
            initial={"prescriber": prescribers.first()} if count == 1 else {},
        )
        if request.method == "POST" and criteria_form.is_valid() and prescriber_form.is_valid():
            dossier = drafting.start_prescription(
                author=request.user,
                prescriber=prescriber_form.cleaned_data["prescriber"],
                version=chosen,
                checklist=criteria_form.checklist(),
            )
            messages.success(request, _("Brouillon %(ref)s créé.") % {"ref": dossier.reference})
            return redirect("prescribe_step", pk=dossier.pk, step="patient")
    return render(
        request,
        "prescriptions/prescribe/pre_indication.html",
        {
            "versions": versions,
            "query": query,
            "chosen": chosen,
            "criteria_form": criteria_form,
            "prescriber_form": prescriber_form,
            "single_prescriber": count == 1,
            "rcps": selectors.allowed_rcps(chosen) if chosen else [],
            "steps": [(s, STEP_LABELS[s], False) for s in drafting.STEPS],
            "step": "pre-indication",
        },
    )


def _chosen_version(pk) -> PreIndicationVersion | None:
    if not pk or not str(pk).isdigit():
        return None
    return next((v for v in selectors.prescribable_versions() if v.pk == int(pk)), None)


@login_required
def resume(request, pk: int):
    try:
        dossier = _draft(request, pk)
    except _Redirect as r:
        return redirect(r.url)
    return redirect("prescribe_step", pk=dossier.pk, step=drafting.next_step(dossier))


@login_required
def step(request, pk: int, step: str):
    views = {
        "pre-indication": pre_indication_step,
        "patient": patient_step,
        "famille": family_step,
        "clinique": clinical_step,
        "documents": documents_step,
        "validation": review_step,
    }
    if step not in views:
        raise Http404
    return views[step](request, pk)


@_step_view
def pre_indication_step(request, dossier: Dossier):
    query = request.GET.get("q", "").strip()[:100]
    chosen = (
        _chosen_version(request.POST.get("version") or request.GET.get("choix"))
        or dossier.pre_indication_version
    )
    answers = dossier.criteria_checklist if chosen == dossier.pre_indication_version else None
    data = request.POST if request.method == "POST" else None
    criteria_form = CriteriaForm(data, criteria=chosen.criteria, answers=answers, prefix="c")
    if request.method == "POST" and criteria_form.is_valid():
        try:
            drafting.save_pre_indication(
                dossier=dossier, actor=request.user, version=chosen, checklist=criteria_form.checklist()
            )
        except ValidationError as exc:
            criteria_form.add_error(None, exc)
        else:
            return _next(dossier, "pre-indication")
    locked = dossier.status != Dossier.Status.DRAFT
    versions = [] if locked else selectors.prescribable_versions(query)
    return render(
        request,
        "prescriptions/prescribe/pre_indication.html",
        _context(
            dossier,
            "pre-indication",
            versions=versions,
            query=query,
            chosen=chosen,
            criteria_form=criteria_form,
            locked=locked,
            rcps=selectors.allowed_rcps(chosen),
        ),
    )


def _identity_initial(person: DossierPerson | None) -> dict:
    if person is None:
        return {}
    p = person.patient
    return {
        "birth_name": p.birth_name,
        "used_name": p.used_name,
        "first_names": p.first_names,
        "date_of_birth": p.date_of_birth,
        "sex": p.sex,
        "ins": p.ins,
        "is_fetus": p.is_fetus,
        "is_deceased": p.is_deceased,
        "affected": person.affected,
        "relationship": person.relationship,
        "to_be_sequenced": person.to_be_sequenced,
    }


@_step_view
def patient_step(request, dossier: Dossier):
    index = next(
        (p for p in dossier.persons.all() if p.relationship == DossierPerson.Relationship.INDEX), None
    )
    form = IndexCaseForm(request.POST or None, initial=_identity_initial(index))
    candidates = []
    if request.method == "POST" and form.is_valid():
        identity = form.identity()
        choice = request.POST.get("reuse", "")
        current = index.patient if index else None
        candidates = [p for p in selectors.known_patients(request.user, identity) if p != current]
        reuse = None
        if choice.isdigit():
            reuse = next((p for p in candidates if p.pk == int(choice)), None)
        if candidates and not choice:
            # A known patient within the user's scope: offer them rather than duplicating (the user chooses).
            return render(
                request,
                "prescriptions/prescribe/patient.html",
                _context(dossier, "patient", form=form, candidates=candidates),
            )
        try:
            drafting.save_index_case(
                dossier=dossier,
                actor=request.user,
                identity=identity,
                affected=form.cleaned_data["affected"],
                reuse=reuse,
                new=choice == "new",
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _next(dossier, "patient")
    return render(
        request,
        "prescriptions/prescribe/patient.html",
        _context(dossier, "patient", form=form, candidates=candidates),
    )


@_step_view
def family_step(request, dossier: Dossier):
    version = dossier.pre_indication_version
    relatives = [p for p in dossier.persons.all() if p.relationship != DossierPerson.Relationship.INDEX]
    data = request.POST if request.method == "POST" else None
    form = FamilyForm(
        data,
        version=version,
        initial={
            "structure": dossier.family_structure or "solo",
            "trio_exception": dossier.trio_exception,
            "trio_exception_reason": dossier.trio_exception_reason,
        },
    )
    formset = RelativeFormSet(data, prefix="rel", initial=[_identity_initial(p) for p in relatives])
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        filled = formset.filled_forms()
        form.check_against(len(filled))
        if form.is_valid():
            try:
                drafting.save_family(
                    dossier=dossier,
                    actor=request.user,
                    structure=form.cleaned_data["structure"],
                    relatives=[
                        drafting.Relative(
                            relationship=f.cleaned_data["relationship"],
                            affected=f.cleaned_data["affected"],
                            identity=f.identity(),
                            to_be_sequenced=f.cleaned_data.get("to_be_sequenced", False),
                        )
                        for f in filled
                    ],
                    trio_exception=form.cleaned_data.get("trio_exception", ""),
                    trio_exception_reason=form.cleaned_data.get("trio_exception_reason", ""),
                )
            except drafting.IdentityRefused as exc:
                for field, errors in exc.error_dict.items():
                    filled[exc.position].add_error(field, errors)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return _next(dossier, "famille")
    return render(
        request,
        "prescriptions/prescribe/family.html",
        _context(dossier, "famille", form=form, formset=formset, version=version),
    )


@_step_view
def clinical_step(request, dossier: Dossier):
    data = request.POST if request.method == "POST" else None
    form = ClinicalForm(
        data,
        initial={
            "age_at_onset": dossier.age_at_onset,
            "clinical_summary": dossier.clinical_summary,
            "suspected_diagnosis": (
                f"{dossier.suspected_diagnosis.pk} — {dossier.suspected_diagnosis.name}"
                if dossier.suspected_diagnosis
                else ""
            ),
        },
    )
    phenotypes = PhenotypeFormSet(
        data,
        prefix="hpo",
        initial=[
            {"term": f"{p.term.pk} — {p.term.name}", "present": "1" if p.present else "0"}
            for p in dossier.phenotypes.all()
        ],
    )
    tests = PriorTestFormSet(
        data,
        prefix="test",
        initial=[
            {"kind": t.kind, "performed_on": t.performed_on, "result": t.result, "details": t.details}
            for t in dossier.prior_tests.all()
        ],
    )
    if request.method == "POST" and form.is_valid() and phenotypes.is_valid() and tests.is_valid():
        from ontology.selectors import get_orpha_disease

        terms = [(f.cleaned_data["term"], f.cleaned_data["present"]) for f in phenotypes.filled_forms()]
        if not any(present for _term, present in terms):
            phenotypes._non_form_errors = phenotypes.error_class(
                [_("Indiquez au moins un terme HPO présent chez le cas index.")]
            )
        else:
            drafting.save_clinical_picture(
                dossier=dossier,
                actor=request.user,
                phenotypes=terms,
                age_at_onset=form.cleaned_data["age_at_onset"],
                summary=form.cleaned_data["clinical_summary"],
                prior_tests=[
                    {k: f.cleaned_data[k] for k in ("kind", "performed_on", "result", "details")}
                    for f in tests.filled_forms()
                ],
                suspected_diagnosis=get_orpha_disease(form.cleaned_data["suspected_diagnosis"])
                if form.cleaned_data["suspected_diagnosis"]
                else None,
            )
            return _next(dossier, "clinique")
    return render(
        request,
        "prescriptions/prescribe/clinical.html",
        _context(dossier, "clinique", form=form, phenotypes=phenotypes, tests=tests),
    )


@_step_view
def documents_step(request, dossier: Dossier):
    form = DocumentForm()
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "upload":
            form = DocumentForm(request.POST, request.FILES)
            expected = None
            expected_id = request.POST.get("expected", "")
            if expected_id.isdigit():
                expected = dossier.pre_indication_version.documents.filter(pk=int(expected_id)).first()
            if form.is_valid():
                try:
                    drafting.add_document(
                        dossier=dossier,
                        actor=request.user,
                        uploaded=form.cleaned_data["file"],
                        expected=expected,
                        label=form.cleaned_data["label"],
                    )
                except ValidationError as exc:
                    form.add_error("file", exc)
                else:
                    messages.success(request, _("Document enregistré."))
                    return redirect("prescribe_step", pk=dossier.pk, step="documents")
        elif action.startswith("remove-") and action[7:].isdigit():
            document = get_object_or_404(dossier.documents.all(), pk=int(action[7:]))
            drafting.remove_document(dossier=dossier, actor=request.user, document=document)
            messages.success(request, _("Document retiré."))
            return redirect("prescribe_step", pk=dossier.pk, step="documents")
        elif action == "continue":
            drafting.mark_documents_done(dossier=dossier, actor=request.user)
            return _next(dossier, "documents")
    dossier = selectors.dossier_detail(request.user, dossier.pk)
    return render(
        request,
        "prescriptions/prescribe/documents.html",
        _context(dossier, "documents", form=form, missing=missing_documents(dossier)),
    )


@_step_view
def review_step(request, dossier: Dossier):
    rcps = selectors.allowed_rcps(dossier.pre_indication_version)
    is_prescriber = dossier.prescriber_id == request.user.pk
    form = SubmitForm(request.POST or None, rcps=rcps, initial={"rcp": dossier.rcp_id or rcps.first()})
    if request.method == "POST" and request.POST.get("action") == "hand_over" and not is_prescriber:
        drafting.hand_over(dossier=dossier, assistant=request.user)
        messages.success(
            request, _("Dossier transmis à %(p)s pour vérification et envoi.") % {"p": dossier.prescriber}
        )
        return redirect("home")
    if request.method == "POST" and is_prescriber and form.is_valid():
        try:
            drafting.attest_and_submit(dossier=dossier, prescriber=request.user, rcp=form.cleaned_data["rcp"])
        except (TransitionRefused, PermissionDenied) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("Prescription %(ref)s soumise à %(rcp)s.")
                % {"ref": dossier.reference, "rcp": form.cleaned_data["rcp"]},
            )
            return redirect("dossier_detail", pk=dossier.pk)
    # What would still block the submission; the RCP and the attestation are given on this very page.
    blocking = missing_for(dossier, SUBMIT_CONTENT_CONDITIONS)
    return render(
        request,
        "prescriptions/prescribe/review.html",
        _context(dossier, "validation", form=form, blocking=blocking, is_prescriber=is_prescriber, rcps=rcps),
    )
