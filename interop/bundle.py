"""A dossier as a FHIR R4 ``collection`` Bundle: the one mapping of the export (``/shared/domain/fhir.md``).

Every resource of the dossier is built here, once: the Bundle route serves the whole, the resource route serves
one entry of the same Bundle (``resource_in``). What a user may see inside a dossier they may see is asked of the
apps' own selectors and rules: consents only to those who care for the dossier (``consent.selectors.consents_for``),
reports once signed (``labs.selectors.reports_of``), research consent as ``consent.selectors.research_cohort`` says,
the same selector as every other export. Which dossier a user may see at all is ``dossier_for_export``'s question.

Profiles and systems: FR Core (Patient with INS, Practitioner with RPPS, Organization with FINESS), HPO, ORPHA,
LOINC and HL7 terminology; the portal's own identifiers and code systems live under ``FHIR_SYSTEM_BASE``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone, translation

from consent.models import ConsentRecord, DataDeletion, ResearchChoice, Withdrawal
from consent.selectors import consents_for, research_cohort
from labs.models import Report, Sample
from labs.selectors import reports_of, samples_of
from people.models import User
from prescriptions import selectors as prescription_selectors
from prescriptions.folding import folded
from prescriptions.models import Dossier, DossierPerson, SampleType, Sex
from prescriptions.rules import identities_hidden
from rcp.models import Decision
from rcp.selectors import decisions_of

from .ids import resource_id

# --- Systems -------------------------------------------------------------------------------------------------

FR_CORE = "https://hl7.fr/ig/fhir/core"
FR_CORE_PATIENT = f"{FR_CORE}/StructureDefinition/fr-core-patient"
FR_CORE_PATIENT_INS = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
FR_CORE_PRACTITIONER = f"{FR_CORE}/StructureDefinition/fr-core-practitioner"
FR_CORE_ORGANIZATION = f"{FR_CORE}/StructureDefinition/fr-core-organization"
FR_CORE_BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
FR_CORE_V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "https://rpps.esante.gouv.fr"
FINESS = "https://finess.esante.gouv.fr"
HPO = "http://human-phenotype-ontology.org"
ORPHA = "https://www.orpha.net"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
GENOMIC_REPORT = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/genomic-report"


def system(path: str) -> str:
    """One of the portal's own identifier or code systems (``FHIR_SYSTEM_BASE`` + ``path``)."""
    return f"{settings.FHIR_SYSTEM_BASE}/{path}"


def pre_indication_system() -> str:
    return system("CodeSystem/pre-indication")


def coding(system_uri: str, code: str, display: str = "") -> dict:
    found = {"system": system_uri, "code": code}
    if display:
        found["display"] = display
    return found


def concept(system_uri: str, code: str, display: str = "", text: str = "") -> dict:
    found: dict = {"coding": [coding(system_uri, code, display)]}
    if text:
        found["text"] = text
    return found


def _instant(value: dt.datetime) -> str:
    return timezone.localtime(value).isoformat()


# --- Mappings ------------------------------------------------------------------------------------------------

S = Dossier.Status
SERVICE_REQUEST_STATUS: dict[str, str] = {
    S.DRAFT: "draft",
    S.CANCELLED: "revoked",
    S.RCP_REJECTED: "revoked",
    S.WITHDRAWN: "revoked",
    S.REPORT_DELIVERED: "completed",
    S.CLOSED: "completed",
}  # every other status (submitted… report signed): active

GENDER: dict[str, str] = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.UNKNOWN: "unknown"}

R = DossierPerson.Relationship
# v3-RoleCode: natural mother and father, sibling, child, family member.
RELATIONSHIP: dict[str, str] = {
    R.MOTHER: "NMTH",
    R.FATHER: "NFTH",
    R.SIBLING: "SIB",
    R.CHILD: "CHILD",
    R.OTHER: "FAMMEMB",
}

PRESENT = coding(LOINC, "LA9633-4", "Present")
ABSENT = coding(LOINC, "LA9634-2", "Absent")


# --- Which dossier ---------------------------------------------------------------------------------------------


def dossier_for_export(user: User, reference: str) -> Dossier:
    """The dossier ``user`` may export, or Dossier.DoesNotExist: the API's scope
    (``selectors.dossier_by_reference``), and never a withdrawn dossier to its laboratory, which may not identify
    its persons (as the file downloads)."""
    dossier = prescription_selectors.dossier_by_reference(user, reference, whole=True)
    if identities_hidden.test(user, dossier):
        raise Dossier.DoesNotExist
    return dossier


# --- The Bundle ----------------------------------------------------------------------------------------------


def default_base() -> str:
    """``FHIR_BASE_URL``, or the FHIR root under ``PORTAL_URL``."""
    return settings.FHIR_BASE_URL or f"{settings.PORTAL_URL.rstrip('/')}/fhir/r4"


def dossier_bundle(dossier: Dossier, *, user: User, base: str = "") -> dict:
    """``dossier`` as a FHIR R4 ``collection`` Bundle (JSON-ready dict) as ``user`` may see it; ``base`` is the
    FHIR base address of the fullUrls (``FHIR_BASE_URL`` by default). The caller has checked that ``user`` may
    export the dossier (``dossier_for_export``)."""
    # One language for the labels (displays, texts): the same resource reads the same whoever asks.
    with translation.override("fr"):
        return _Builder(dossier, user, (base or default_base()).rstrip("/")).bundle()


def resource_in(bundle: dict, resource_type: str, rid: str) -> dict | None:
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == resource_type and resource["id"] == rid:
            return resource
    return None


class _Builder:
    def __init__(self, dossier: Dossier, user: User, base: str) -> None:
        self.dossier = dossier
        self.user = user
        self.base = base
        self.reference = dossier.reference
        self.entries: dict[tuple[str, str], dict] = {}

    # -- plumbing

    def rid(self, kind: str, *pks: int) -> str:
        return resource_id(self.reference, kind, *pks)

    def ref(self, resource_type: str, rid: str) -> dict:
        return {"reference": f"{self.base}/{resource_type}/{rid}"}

    def add(self, resource: dict) -> dict:
        key = (resource["resourceType"], resource["id"])
        self.entries.setdefault(key, resource)
        return self.ref(*key)

    # -- the whole

    def bundle(self) -> dict:
        dossier = self.dossier
        # Read with the dossier by ``dossier_by_reference`` (its folds), or now.
        persons = folded(dossier, "persons")
        if persons is None:
            persons = list(dossier.persons.select_related("patient"))
        persons.sort(key=lambda p: p.pk)
        self.index = next((p for p in persons if p.relationship == R.INDEX), None)
        self.patients = {p.pk: self.add(self.patient(p)) for p in persons}
        if self.index is not None:
            for person in persons:
                if person.relationship != R.INDEX:
                    self.related_person(person, self.index)
        self.prescriber_role = self.practitioner_role(
            dossier.prescriber, self.establishment(dossier.establishment)
        )
        self.laboratory_ref = self.laboratory(dossier.laboratory) if dossier.laboratory_id else None
        self.condition = self.suspected_condition()
        self.observations = self.phenotypes()
        samples = samples_of(dossier)
        self.specimens = {s.pk: self.specimen(s) for s in samples}
        sequenced = [p for p in persons if p.to_be_sequenced]
        self.requests = {p.pk: self.service_request(p, samples) for p in sequenced}
        for decision in decisions_of(dossier):
            self.task(decision)
        self.consents()
        for report in reports_of(dossier, self.user):
            self.report(report, samples)
        return {
            "resourceType": "Bundle",
            "id": self.reference,
            "meta": {"lastUpdated": _instant(dossier.updated_at)},
            "identifier": {"system": system("dossier"), "value": self.reference},
            "type": "collection",
            "timestamp": _instant(timezone.now()),
            "entry": [
                {"fullUrl": self.ref(t, i)["reference"], "resource": resource}
                for (t, i), resource in self.entries.items()
            ],
        }

    # -- persons

    def patient(self, person: DossierPerson) -> dict:
        patient = person.patient
        given = [g for g in re.split(r"[\s,]+", patient.first_names.strip()) if g]
        official: dict = {"use": "official", "family": patient.birth_name}
        if given:
            official["given"] = given[:1]
            official["extension"] = [{"url": FR_CORE_BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(given)}]
        names = [official]
        if patient.used_name and prescription_selectors.normalised_trait(
            patient.used_name
        ) != prescription_selectors.normalised_trait(patient.birth_name):
            names.append({"use": "usual", "family": patient.used_name})
        resource: dict = {
            "resourceType": "Patient",
            "id": self.rid("person", person.pk),
            "meta": {"profile": [FR_CORE_PATIENT_INS if patient.ins else FR_CORE_PATIENT]},
        }
        if patient.ins:
            resource["identifier"] = [
                {
                    "use": "official",
                    "type": concept(FR_CORE_V2_0203, "INS-NIR"),
                    "system": INS_NIR,
                    "value": patient.ins,
                }
            ]
        resource["name"] = names
        resource["gender"] = GENDER.get(patient.sex, "unknown")
        if patient.date_of_birth:
            resource["birthDate"] = patient.date_of_birth.isoformat()
        if patient.is_deceased:
            resource["deceasedBoolean"] = True
        if person.relationship != R.INDEX and self.index is not None:
            resource["link"] = [
                {"other": self.ref("RelatedPerson", self.rid("person", person.pk)), "type": "seealso"}
            ]
        return resource

    def related_person(self, person: DossierPerson, index: DossierPerson) -> None:
        patient = person.patient
        resource: dict = {
            "resourceType": "RelatedPerson",
            "id": self.rid("person", person.pk),
            "patient": self.patients[index.pk],
            "relationship": [
                concept(
                    V3_ROLE, RELATIONSHIP[person.relationship], text=str(person.get_relationship_display())
                )
            ],
            "name": [{"use": "official", "family": patient.birth_name}],
            "gender": GENDER.get(patient.sex, "unknown"),
        }
        if patient.first_names.split():
            resource["name"][0]["given"] = patient.first_names.split()[:1]
        if patient.date_of_birth:
            resource["birthDate"] = patient.date_of_birth.isoformat()
        self.add(resource)

    # -- organisations and practitioners

    def establishment(self, establishment) -> dict:
        return self.add(
            {
                "resourceType": "Organization",
                "id": self.rid("establishment", establishment.pk),
                "meta": {"profile": [FR_CORE_ORGANIZATION]},
                "identifier": [
                    {
                        "use": "official",
                        "type": concept(FR_CORE_V2_0203, "FINEG"),
                        "system": FINESS,
                        "value": establishment.finess,
                    }
                ],
                "name": establishment.name,
                "address": [{"city": establishment.city, "country": "FR"}],
            }
        )

    def laboratory(self, laboratory) -> dict:
        return self.add(
            {
                "resourceType": "Organization",
                "id": self.rid("laboratory", laboratory.pk),
                "identifier": [{"system": system("laboratory"), "value": laboratory.code}],
                "type": [{"text": "Laboratoire de biologie médicale FMG"}],
                "name": laboratory.name,
                "address": [{"city": laboratory.city, "country": "FR"}],
            }
        )

    def rcp_body(self, rcp) -> dict:
        return self.add(
            {
                "resourceType": "Organization",
                "id": self.rid("rcp", rcp.pk),
                "identifier": [{"system": system("rcp"), "value": str(rcp.pk)}],
                "type": [{"text": "RCP-FMG"}],
                "name": rcp.name,
                "address": [{"city": rcp.city, "country": "FR"}],
            }
        )

    def practitioner(self, user: User) -> dict:
        resource: dict = {
            "resourceType": "Practitioner",
            "id": self.rid("user", user.pk),
            "meta": {"profile": [FR_CORE_PRACTITIONER]},
        }
        if user.rpps:
            resource["identifier"] = [
                {
                    "use": "official",
                    "type": concept(FR_CORE_V2_0203, "RPPS"),
                    "system": RPPS,
                    "value": user.rpps,
                }
            ]
        name: dict = {"use": "official", "family": user.last_name or user.username}
        if user.first_name:
            name["given"] = [user.first_name]
        resource["name"] = [name]
        return self.add(resource)

    def practitioner_role(self, user: User, organization: dict | None) -> dict:
        """One role per person and place: its id is the user's and the organisation's (``user-7-laboratory-2``)."""
        place = organization["reference"].rsplit("/", 1)[1].split(".", 1)[1] if organization else "role"
        resource: dict = {
            "resourceType": "PractitionerRole",
            "id": self.rid(f"user-{user.pk}-{place}"),
            "practitioner": self.practitioner(user),
        }
        if organization is not None:
            resource["organization"] = organization
        return self.add(resource)

    # -- clinic

    def suspected_condition(self) -> dict | None:
        disease = self.dossier.suspected_diagnosis
        if disease is None or self.index is None:
            return None
        return self.add(
            {
                "resourceType": "Condition",
                "id": self.rid("orpha"),
                "clinicalStatus": concept(CONDITION_CLINICAL, "active"),
                "verificationStatus": concept(CONDITION_VER_STATUS, "provisional"),
                "code": {
                    "coding": [coding(ORPHA, disease.pk.removeprefix("ORPHA:"), disease.name)],
                    "text": disease.name,
                },
                "subject": self.patients[self.index.pk],
            }
        )

    def phenotypes(self) -> list[dict]:
        found = []
        phenotypes = folded(self.dossier, "phenotypes")
        if phenotypes is None:
            phenotypes = list(self.dossier.phenotypes.select_related("term"))
        phenotypes.sort(key=lambda p: (not p.present, p.term_id))
        for phenotype in phenotypes:
            resource: dict = {
                "resourceType": "Observation",
                "id": self.rid("hpo", phenotype.pk),
                "status": "final",
                "category": [concept(OBSERVATION_CATEGORY, "exam")],
                "code": {"coding": [coding(HPO, phenotype.term_id, phenotype.term.name)]},
                "valueCodeableConcept": {"coding": [PRESENT if phenotype.present else ABSENT]},
            }
            if self.index is not None:
                resource["subject"] = self.patients[self.index.pk]
            found.append(self.add(resource))
        return found

    # -- the requests

    def service_request(self, person: DossierPerson, samples: list[Sample]) -> dict:
        dossier = self.dossier
        version = dossier.pre_indication_version
        resource: dict = {
            "resourceType": "ServiceRequest",
            "id": self.rid("person", person.pk),
            "identifier": [
                {
                    "type": concept(V2_0203, "PLAC"),
                    "system": system("prescription"),
                    "value": f"{self.reference}-{person.pk}",
                }
            ],
            "requisition": {
                "type": concept(V2_0203, "PGN"),
                "system": system("dossier"),
                "value": self.reference,
            },
            "status": SERVICE_REQUEST_STATUS.get(dossier.status, "active"),
            "intent": "order",
            "category": [concept(SNOMED, "116148004", "Molecular genetics procedure")],
            "priority": "routine",
            "code": {
                "coding": [
                    {
                        **coding(pre_indication_system(), version.pre_indication.slug, version.name),
                        "version": str(version.number),
                    }
                ],
                "text": version.name,
            },
            "subject": self.patients[person.pk],
            "authoredOn": _instant(dossier.attested_at or dossier.created_at),
            "requester": self.prescriber_role,
        }
        if self.laboratory_ref is not None:
            resource["performer"] = [self.laboratory_ref]
        if self.condition is not None:
            resource["reasonReference"] = [self.condition]
        if person.relationship == R.INDEX:
            supporting = self.observations
        elif self.index is not None:
            supporting = [self.ref("RelatedPerson", self.rid("person", person.pk))]
        else:
            supporting = []
        if supporting:
            resource["supportingInfo"] = supporting
        specimens = [self.specimens[s.pk] for s in samples if s.person_id == person.pk]
        if specimens:
            resource["specimen"] = specimens
        if person.relationship == R.INDEX and dossier.clinical_summary:
            resource["note"] = [{"text": dossier.clinical_summary}]
        return self.add(resource)

    def specimen(self, sample: Sample) -> dict:
        identifiers: list[dict] = [{"system": system("sample"), "value": sample.barcode}]
        if sample.shipment is not None:
            identifiers.append(
                {
                    "type": concept(V2_0203, "STN", "Specimen tracking number"),
                    "system": system("shipment"),
                    "value": sample.shipment.tracking_number,
                }
            )
        resource: dict = {
            "resourceType": "Specimen",
            "id": self.rid("sample", sample.pk),
            "identifier": identifiers,
            "status": "unsatisfactory" if sample.check_result == Sample.Check.NON_CONFORM else "available",
            "type": concept(
                system("CodeSystem/sample-type"),
                sample.sample_type,
                str(SampleType(sample.sample_type).label),
                text=str(SampleType(sample.sample_type).label),
            ),
            "subject": self.patients[sample.person_id],
            "collection": {"collectedDateTime": sample.collected_on.isoformat()},
        }
        if sample.checked_at and sample.check_result == Sample.Check.CONFORM:
            resource["receivedTime"] = _instant(sample.checked_at)
        if sample.check_result == Sample.Check.NON_CONFORM:
            resource["note"] = [{"text": sample.check_reason}]
        return self.add(resource)

    # -- the RCP

    def task(self, decision: Decision) -> None:
        rcp = self.rcp_body(decision.meeting.rcp) if decision.meeting is not None else None
        if rcp is None and self.dossier.rcp_id:
            rcp = self.rcp_body(self.dossier.rcp)
        label = str(decision.get_kind_display())
        resource: dict = {
            "resourceType": "Task",
            "id": self.rid("decision", decision.pk),
            "status": "completed",
            "businessStatus": concept(system("CodeSystem/rcp-decision"), decision.kind, label, text=label),
            "intent": "order",
            "code": concept(TASK_CODE, "approve", "Activate/approve the focal resource"),
            "authoredOn": _instant(decision.recorded_at),
            "lastModified": _instant(decision.recorded_at),
            "owner": self.practitioner_role(decision.recorded_by, rcp),
        }
        if self.index is not None:
            resource["for"] = self.patients[self.index.pk]
            if self.index.pk in self.requests:
                resource["focus"] = self.requests[self.index.pk]
        notes = [decision.reason] if decision.reason else []
        notes += [f"Correction : {c.text}" for c in decision.corrections.all()]
        if notes:
            resource["note"] = [{"text": text} for text in notes]
        self.add(resource)

    # -- consent

    def consents(self) -> None:
        persons = consents_for(self.user, self.dossier)
        if persons is None:
            return  # consent data are for those who care for the dossier only (consent.rules)
        cohort = set(research_cohort().filter(dossier=self.dossier).values_list("pk", flat=True))
        withdrawn = (
            self.dossier.status == S.WITHDRAWN or DataDeletion.objects.filter(dossier=self.dossier).exists()
        )
        for person in persons:
            record: ConsentRecord | None = getattr(person, "consent_record", None)
            if record is not None:
                self.treatment_consent(person, record, withdrawn)
                self.research_consent(person, record, withdrawn, in_cohort=person.pk in cohort)

    def _consent(self, person: DossierPerson, record: ConsentRecord, kind: str, scope: str) -> dict:
        resource: dict = {
            "resourceType": "Consent",
            "id": self.rid(kind, person.pk),
            "status": "active",
            "scope": concept(CONSENT_SCOPE, scope),
            "category": [concept(LOINC, "59284-0", "Patient Consent")],
            "patient": self.patients[person.pk],
            "dateTime": record.signed_on.isoformat(),
            "organization": [self.establishment(self.dossier.establishment)],
            "sourceAttachment": {"contentType": record.scan_content_type, "title": "Consentement signé"},
        }
        return resource

    def treatment_consent(self, person: DossierPerson, record: ConsentRecord, withdrawn: bool) -> None:
        resource = self._consent(person, record, "treatment", "treatment")
        if withdrawn or record.fully_withdrawn:
            resource["status"] = "inactive"
        resource["policyRule"] = concept(V3_ACT, "OPTIN")
        provision: dict = {"type": "permit" if record.analysis_accepted else "deny"}
        if person.pk in self.requests:
            provision["data"] = [{"meaning": "related", "reference": self.requests[person.pk]}]
        findings = record.effective_additional_findings
        if findings in ("yes", "no"):
            provision["provision"] = [
                {
                    "type": "permit" if findings == "yes" else "deny",
                    "code": [{"text": "Données additionnelles (résultats secondaires)"}],
                }
            ]
        resource["provision"] = provision
        self.add(resource)

    def research_consent(
        self, person: DossierPerson, record: ConsentRecord, withdrawn: bool, *, in_cohort: bool
    ) -> None:
        """Permit only for a person the research export would take (``research_cohort``); deny when the person
        objected, withdrew that part or the whole, or the dossier was withdrawn; absent otherwise (never asked,
        or a dossier whose data are not yet produced)."""
        objected = record.effective_research_reuse == ResearchChoice.OBJECTS
        if in_cohort and not (objected or withdrawn):
            permit = True
        elif objected or withdrawn:
            permit = False
        else:
            return
        resource = self._consent(person, record, "research", "research")
        withdrawals = [
            w
            for w in record.withdrawals.all()
            if w.scope in (Withdrawal.Scope.ALL, Withdrawal.Scope.RESEARCH)
        ]
        if withdrawals:
            resource["dateTime"] = min(w.withdrawn_on for w in withdrawals).isoformat()
        resource["policyRule"] = concept(V3_ACT, "OPTIN" if permit else "OPTOUT")
        resource["provision"] = {
            "type": "permit" if permit else "deny",
            "purpose": [coding(V3_ACT_REASON, "HRESCH", "healthcare research")],
        }
        self.add(resource)

    # -- the report

    def report(self, report: Report, samples: list[Sample]) -> None:
        if report.signed_at is None or report.signed_by is None:
            return  # a draft is the laboratory's alone
        laboratory = self.laboratory_ref
        biologist = self.practitioner_role(report.signed_by, laboratory)
        rid = self.rid("report", report.pk)
        form: dict = {
            "contentType": "application/pdf",
            "language": "fr",
            "title": f"Compte rendu {self.reference} v{report.version}",
            "creation": _instant(report.signed_at),
        }
        data = _read(report)
        if data is not None:
            form["data"] = base64.b64encode(data).decode("ascii")
            form["size"] = len(data)
            form["hash"] = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")  # noqa: S324 - FHIR's
        resource: dict = {
            "resourceType": "DiagnosticReport",
            "id": rid,
            "meta": {"profile": [GENOMIC_REPORT]},
            "identifier": [{"system": system("report"), "value": f"{self.reference}-v{report.version}"}],
            "status": "amended" if report.amends_id else "final",
            "category": [concept(V2_0074, "GE", "Genetics")],
            "code": concept(LOINC, "51969-4", "Genetic analysis report"),
            "issued": _instant(report.signed_at),
            "resultsInterpreter": [biologist],
        }
        if self.requests:
            resource["basedOn"] = list(self.requests.values())
        if self.index is not None:
            resource["subject"] = self.patients[self.index.pk]
        if laboratory is not None:
            resource["performer"] = [laboratory]
        specimens = [self.specimens[s.pk] for s in samples if s.check_result != Sample.Check.NON_CONFORM]
        if specimens:
            resource["specimen"] = specimens
        if report.conclusion:
            label = str(report.get_conclusion_display())
            resource["conclusion"] = label
            resource["conclusionCode"] = [
                concept(system("CodeSystem/report-conclusion"), report.conclusion, label)
            ]
        resource["presentedForm"] = [form]
        report_ref = self.add(resource)
        signature: dict = {
            "type": [coding(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.1", "Author's Signature")],
            "when": _instant(report.signed_at),
            "who": biologist,
            "targetFormat": "application/pdf",
            "sigFormat": "application/pdf",  # a PAdES signature, inside the PDF of presentedForm
        }
        agent: dict = {
            "type": concept(PROVENANCE_PARTICIPANT, "author", "Author"),
            "who": biologist,
        }
        self.add(
            {
                "resourceType": "Provenance",
                "id": self.rid("signature", report.pk),
                "target": [report_ref],
                "recorded": _instant(report.signed_at),
                "agent": [agent],
                "signature": [signature],
            }
        )


def _read(report: Report) -> bytes | None:
    """The signed PDF as served (``Report.document``), or None if the file is gone."""
    document = report.document
    if not document:
        return None
    try:
        with default_storage.open(document.name, "rb") as stored:
            return stored.read()
    except (FileNotFoundError, OSError):
        return None
