"""Places, laboratories' territories and role groups: reference data the rest of the portal relies on."""

import pytest
from django.contrib.auth.models import Group

from people.models import Department, Region, Role, Territory
from people.services import load_laboratories

pytestmark = pytest.mark.usefixtures("reference_data")


def test_every_region_and_department_including_overseas():
    assert Region.objects.count() == 18
    assert Department.objects.count() == 101
    assert set(Region.objects.filter(overseas=True).values_list("name", flat=True)) == {
        "Guadeloupe",
        "Martinique",
        "Guyane",
        "La Réunion",
        "Mayotte",
    }


def test_each_region_is_served_by_one_laboratory_and_the_disputed_ones_are_marked():
    assert Territory.objects.count() == 18
    lab_of = dict(Territory.objects.values_list("region__name", "laboratory__code"))
    assert lab_of["Île-de-France"] == "seqoia"
    assert lab_of["Bretagne"] == "seqoia"
    assert lab_of["Auvergne-Rhône-Alpes"] == "auragen"
    assert {lab_of[r.name] for r in Region.objects.filter(overseas=True)} == {"auragen"}
    disputed = set(Territory.objects.filter(disputed=True).values_list("region__name", flat=True))
    assert disputed == {"Grand Est", "Bourgogne-Franche-Comté", "Centre-Val de Loire"}


def test_reloading_keeps_an_administrator_s_reassignment():
    territory = Territory.objects.get(region__name="Centre-Val de Loire")
    territory.laboratory = Territory.objects.get(region__name="Occitanie").laboratory
    territory.save()
    load_laboratories()
    assert Territory.objects.get(region__name="Centre-Val de Loire").laboratory.code == "auragen"


def test_role_groups_exist_after_migrate_with_their_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    admin = Group.objects.get(name=Role.ADMINISTRATOR)
    assert admin.permissions.filter(codename="change_territory").exists()
    assert admin.permissions.filter(codename="view_dossier").exists()
    national = Group.objects.get(name=Role.NATIONAL_COORDINATION)
    assert not national.permissions.filter(codename="view_dossier").exists()
    assert Group.objects.get(name=Role.PRESCRIBER).permissions.filter(codename="view_preindication").exists()
