"""Shared factories: people and dossiers built through the real services."""

import datetime as dt
import itertools

import factory
from django.utils import timezone

from people import services as people_services
from people.models import (
    AssistantAssignment,
    Department,
    Establishment,
    Laboratory,
    LaboratoryMembership,
    RcpBody,
    RcpMembership,
    Role,
    User,
)
from pfmg.demo import complete_draft
from prescriptions.models import Dossier, DossierPerson, Patient, PreIndication, Sex
from prescriptions.services import add_person, choose_rcp, create_dossier

PASSWORD = "test-password-123"
_rpps = itertools.count(20000000000)


class EstablishmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Establishment

    finess = factory.Sequence(lambda n: f"75{n:07d}")
    name = factory.Sequence(lambda n: f"Hôpital de test {n}")
    city = "Paris"
    department = factory.LazyFunction(lambda: Department.objects.get(code="75"))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Test{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or []:
            people_services.grant_role(user=self, role=role)
        self.save()


def prescriber(establishment=None, **kwargs) -> User:
    return UserFactory(
        roles=[Role.PRESCRIBER],
        rpps=str(next(_rpps)),
        establishment=establishment or EstablishmentFactory(),
        **kwargs,
    )


def lab_member(code: str, function=LaboratoryMembership.Function.STAFF) -> User:
    user = UserFactory()
    people_services.add_to_laboratory(
        user=user, laboratory=Laboratory.objects.get(code=code), function=function
    )
    return user


def rcp_body(**kwargs) -> RcpBody:
    kwargs.setdefault("name", f"RCP-FMG de test {RcpBody.objects.count() + 1}")
    kwargs.setdefault("city", "Paris")
    kwargs.setdefault("multi_theme_rare_disease", True)
    return RcpBody.objects.create(**kwargs)


def coordinator(rcp: RcpBody, user: User | None = None, function=RcpMembership.Function.COORDINATOR) -> User:
    user = user or UserFactory()
    people_services.add_to_rcp(user=user, rcp=rcp, function=function)
    return user


def assistant_for(*prescribers: User) -> User:
    user = UserFactory(roles=[Role.PRESCRIPTION_ASSISTANT])
    assignment = AssistantAssignment.objects.create(assistant=user)
    assignment.prescribers.add(*prescribers)
    return user


def patient(**kwargs) -> Patient:
    kwargs.setdefault("birth_name", "DUPONT")
    kwargs.setdefault("first_names", "Alice")
    kwargs.setdefault("date_of_birth", dt.date(2014, 6, 1))
    kwargs.setdefault("sex", Sex.FEMALE)
    return Patient.objects.create(**kwargs)


def dossier(
    *,
    prescriber_user: User | None = None,
    entered_by: User | None = None,
    slug: str = "deficience-intellectuelle",
    rcp: RcpBody | None | bool = None,
    with_index: bool = True,
    complete: bool = True,
) -> Dossier:
    """A draft; ``complete`` fills every prescribing step (through the real services) so it may be submitted."""
    prescriber_user = prescriber_user or prescriber()
    version = PreIndication.objects.get(slug=slug).current_version()
    author = entered_by or prescriber_user
    d = create_dossier(prescriber=prescriber_user, entered_by=author, pre_indication_version=version)
    if complete and with_index:
        complete_draft(d, author, d.pk, trio=False)
    elif with_index:
        add_person(dossier=d, patient=patient(), relationship=DossierPerson.Relationship.INDEX)
    if rcp is not False:
        choose_rcp(dossier=d, rcp=rcp or rcp_body())
    return d


def paris_noon(days_ago: int) -> dt.datetime:
    """Noon, Paris time, ``days_ago`` calendar days ago: a wait counted in calendar days (the RCP-FMG queue's) is
    then the same whatever the hour a test runs at (late in the evening, or across a change of summer time,
    "20 days ago" may fall on another Paris day)."""
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
