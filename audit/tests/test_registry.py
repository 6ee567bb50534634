"""Every URL of the project is either recorded in the trail or declared free of patient data."""

from django.urls import URLPattern, URLResolver, get_resolver

from audit import registry


def _patterns(resolver=None, prefix="", namespace=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _patterns(pattern, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, prefix + str(pattern.pattern)


def test_every_url_pattern_is_classified(db):
    patterns = list(_patterns())
    assert len(patterns) > 100  # the admin's, the API's and the portal's
    unclassified = [(name, route) for name, route in patterns if not registry.is_classified(name, route)]
    assert not unclassified, (
        "URL patterns neither recorded by the audit trail nor declared free of patient data "
        f"(add them to audit.registry.ROUTES or NOT_PATIENT_DATA): {unclassified}"
    )


def test_a_new_url_is_not_classified_by_default(db):
    assert not registry.is_classified("dossier_export_everything", "dossiers/<int:pk>/tout/")
    assert not registry.is_classified("admin:some_custom_page", "admin/some/")
    assert not registry.is_classified(None, "dossiers/<int:pk>/anonymous/")


def test_the_registry_names_only_urls_that_exist(db):
    names = {name for name, _route in _patterns()}
    assert not (set(registry.ROUTES) - names), "stale entries in audit.registry.ROUTES"
    assert not (registry.NOT_PATIENT_DATA - names), "stale entries in audit.registry.NOT_PATIENT_DATA"


def test_every_patient_model_in_the_admin_resolves_to_its_dossier(db):
    from django.contrib import admin

    from prescriptions.models import Patient

    reached = {m._meta.label_lower for m in admin.site._registry if registry.dossier_path(m) is not None}
    assert {
        "prescriptions.dossier",
        "prescriptions.dossierperson",
        "prescriptions.dossierphenotype",
        "prescriptions.priortest",
        "prescriptions.dossierdocument",
        "prescriptions.dossierevent",
        "consent.consentrecord",
        "consent.datadeletion",
        "rcp.decision",
        "rcp.sheetentry",
        "notifications.notification",
    } <= reached
    assert (
        registry.dossier_path(Patient) is None
    )  # resolved by its own rule: a patient is in several dossiers


def test_no_app_imports_the_audit_trail():
    """Dependencies point one way: audit knows the apps, the apps tell it through pfmg.trail."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for app in ("people", "ontology", "prescriptions", "rcp", "consent", "labs", "notifications", "pfmg")
        for path in (root / app).rglob("*.py")
        if "from audit" in path.read_text() or "import audit" in path.read_text()
    ]
    assert not offenders
