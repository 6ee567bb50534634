"""The consent forms and information notices seeded with the portal.

These are DEMONSTRATION texts written for this portal, not the official PFMG 2025 documents (which the
coordination publishes and which replace them through the admin, as new versions). They say what the real ones
say, as far as the public sources go: every sequenced person is informed and consents; for a minor or a
protected adult the holders of parental authority or the legal representative consent and the person's own
agreement is sought; since the 2021 bioethics law a person may choose to be told of additional findings; data
may be reused for research in the national data centre (CAD) unless the person objects; consent may be
withdrawn at any time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import Audience, ConsentTemplate, ReadingLevel, Situation

EFFECTIVE_FROM = dt.date(2023, 1, 1)

DEMO_WARNING = (
    "Texte de démonstration du portail : il ne remplace pas les documents officiels du Plan France Médecine "
    "Génomique 2025."
)

SITUATION_WORDS = {
    Situation.RARE_DISEASE: ("une maladie rare", "rechercher la cause génétique d'une maladie rare"),
    Situation.CANCER: ("un cancer", "mieux connaître les caractéristiques génétiques d'un cancer"),
}

WHO = {
    Audience.ADULT: ("Vous", "vous"),
    Audience.MINOR: ("Toi", "toi"),
    Audience.PROTECTED_ADULT: ("Vous", "vous"),
    Audience.PARENT: (
        "Votre enfant ou la personne que vous représentez",
        "votre enfant ou la personne que vous représentez",
    ),
    Audience.RELATIVE_OF_DECEASED: ("Votre proche décédé·e", "votre proche décédé·e"),
}

AUDIENCE_TITLES = {
    Audience.ADULT: "adulte",
    Audience.MINOR: "mineur·e",
    Audience.PROTECTED_ADULT: "majeur·e protégé·e",
    Audience.PARENT: "parents et représentants légaux",
    Audience.RELATIVE_OF_DECEASED: "proches d'une personne décédée",
}

LEVEL_TITLES = {
    ReadingLevel.STANDARD: "",
    ReadingLevel.SIMPLIFIED: " — version simplifiée",
    ReadingLevel.EASY_TO_READ: " — facile à lire et à comprendre (FALC)",
}


def _standard(situation: str, audience: str) -> list[str]:
    disease, purpose = SITUATION_WORDS[situation]
    subject = WHO[audience][1]
    return [
        f"Un médecin propose d'analyser le génome de {subject} pour {purpose}. Cette analyse, le séquençage du "
        "génome, lit l'ensemble de l'ADN. Elle est prescrite dans le cadre du Plan France Médecine Génomique "
        "2025, après l'avis d'une réunion de concertation pluridisciplinaire (RCP-FMG).",
        "Le consentement est écrit et signé. Pour une personne mineure, les titulaires de l'autorité parentale "
        "consentent et l'avis de l'enfant est recherché ; pour un·e majeur·e protégé·e, le représentant légal "
        "consent et l'avis de la personne est recherché. Chaque membre de la famille dont l'ADN est analysé "
        "(par exemple les parents d'un enfant, en trio) est informé et consent pour lui-même.",
        "Données additionnelles : l'analyse peut révéler des informations sans lien avec la raison de l'examen "
        f"mais utiles pour la prévention ou les soins de {subject} ou de la famille. Depuis la loi de bioéthique "
        "de 2021, vous choisissez d'en être informé·e ou non ; ce choix peut être modifié.",
        "Information de la parentèle : si une anomalie grave pouvant faire l'objet de mesures de prévention ou "
        "de soins est découverte, les membres de la famille potentiellement concernés doivent en être informés, "
        "par vous-même ou par le médecin à votre demande.",
        "Recherche : les données du séquençage sont conservées par le collecteur analyseur de données (CAD) et "
        "peuvent être réutilisées pour la recherche, sauf si vous vous y opposez. L'opposition est possible à "
        "tout moment, sans conséquence sur les soins.",
        "Retrait : vous pouvez retirer votre consentement à tout moment, en totalité ou en partie. Un retrait "
        "complet arrête l'analyse et entraîne la suppression des données selon les règles de conservation.",
    ]


def _simplified(situation: str, audience: str) -> list[str]:
    disease, _purpose = SITUATION_WORDS[situation]
    subject = WHO[audience][1]
    return [
        f"Le médecin propose une analyse de l'ADN de {subject}. Elle cherche une explication génétique à "
        f"{disease}.",
        "Avant l'analyse, on vous explique tout. Vous signez un formulaire si vous êtes d'accord. Pour un enfant, "
        "ce sont les parents qui signent, et on demande aussi l'avis de l'enfant.",
        "L'analyse peut trouver d'autres informations utiles pour la santé. Vous choisissez de les connaître ou "
        "non.",
        "Les données peuvent servir à la recherche. Vous pouvez refuser, à tout moment.",
        "Vous pouvez changer d'avis à tout moment et retirer votre accord. L'analyse s'arrête alors.",
    ]


def _easy_to_read(situation: str, audience: str) -> list[str]:
    disease, _purpose = SITUATION_WORDS[situation]
    subject, _lower = WHO[audience]
    return [
        f"{subject} : le médecin veut regarder vos gènes.",
        "Les gènes sont dans notre corps. Ils expliquent parfois une maladie.",
        f"Ici, la maladie est {disease}.",
        "Le médecin vous explique. Vous posez vos questions.",
        "Vous êtes d'accord ? Vous signez une feuille.",
        "Vous n'êtes plus d'accord ? Vous pouvez le dire. À tout moment.",
        "Vos informations peuvent aider la recherche. Vous pouvez dire non.",
    ]


TEXTS = {
    ReadingLevel.STANDARD: _standard,
    ReadingLevel.SIMPLIFIED: _simplified,
    ReadingLevel.EASY_TO_READ: _easy_to_read,
}

# Forms exist for adults, minors, protected adults (and relatives signing for a deceased person); notices for
# every person, in every reading level.
FORM_AUDIENCES = (Audience.ADULT, Audience.MINOR, Audience.PROTECTED_ADULT, Audience.RELATIVE_OF_DECEASED)


@dataclass(frozen=True)
class Spec:
    kind: str
    situation: str
    audience: str
    reading_level: str

    @property
    def slug(self) -> str:
        kind = "formulaire" if self.kind == ConsentTemplate.Kind.FORM else "notice"
        return f"{kind}-{self.situation}-{self.audience}-{self.reading_level}".replace("_", "-")

    @property
    def title(self) -> str:
        kind = (
            "Formulaire de consentement" if self.kind == ConsentTemplate.Kind.FORM else "Notice d'information"
        )
        situation = "maladies rares" if self.situation == Situation.RARE_DISEASE else "cancers"
        return f"{kind} — {situation} — {AUDIENCE_TITLES[self.audience]}{LEVEL_TITLES[self.reading_level]}"

    @property
    def body(self) -> str:
        return "\n\n".join([DEMO_WARNING, *TEXTS[self.reading_level](self.situation, self.audience)])


SPECS = [
    *(
        Spec(ConsentTemplate.Kind.NOTICE, situation, audience, level)
        for situation in Situation.values
        for audience in Audience.values
        for level in ReadingLevel.values
    ),
    *(
        Spec(ConsentTemplate.Kind.FORM, situation, audience, ReadingLevel.STANDARD)
        for situation in Situation.values
        for audience in FORM_AUDIENCES
    ),
]
