from oauth2_provider.oauth2_validators import OAuth2Validator


class ProSanteConnectLikeValidator(OAuth2Validator):
    """Claims shaped like Pro Santé Connect's: the national identifier in SubjectNameID (scope_all), and the
    eIDAS level of a CPS / e-CPS authentication in acr.

    A test user's username is their national identifier ("8" + RPPS); a username that is not all digits stands
    for a professional PSC knows no national identifier for."""

    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "acr": "openid",
        "SubjectNameID": "scope_all",
    }

    def get_additional_claims(self, request):
        user = request.user
        claims = {"acr": "eidas1", "given_name": user.first_name, "family_name": user.last_name}
        if user.username.isdigit():
            claims["SubjectNameID"] = user.username
        return claims
