"""The FHIR R4 export. The ``fhir.resources`` library installs a package named ``fhir`` too (an empty
``__init__``, its models under ``fhir/resources``): this package extends its path to that one, so that
``fhir.resources`` stays importable beside the app (pkgutil-style namespace)."""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
