"""The refusals every API operation may answer, written into the OpenAPI schema (drf-spectacular documents
only the success), so that a client, and Schemathesis in the tests, know every status the API answers."""

import re

from rest_framework.permissions import AllowAny, IsAuthenticated

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
REFUSALS = {
    "401": "Jeton absent, inconnu, expiré ou révoqué.",
    "403": "Action réservée à d'autres rôles.",
    "404": "Objet inconnu ou hors du périmètre de l'utilisateur, ou page de résultats inexistante.",
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _restricted(callback) -> bool:
    """Whether the view asks more than being signed in, so that a signed-in user may get a 403."""
    view = getattr(callback, "cls", None)
    classes = getattr(view, "permission_classes", [])
    return any(cls not in (AllowAny, IsAuthenticated) for cls in classes)


def document_refusals(result, generator, request, public):
    restricted = {
        (_shape(path), method.lower())
        for path, _regex, method, callback in generator.endpoints or []
        if _restricted(callback)
    }
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorDetail"] = ERROR
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            statuses = []
            # An empty requirement ({}) means the operation is also open to anonymous clients.
            if operation.get("security") and {} not in operation["security"]:
                statuses.append("401")
            if (_shape(path), method) in restricted:
                statuses.append("403")
            if any(p["in"] == "path" or p["name"] == "page" for p in parameters):
                statuses.append("404")
            for status in statuses:
                responses.setdefault(status, {"description": REFUSALS[status], "content": reference})
    return result
