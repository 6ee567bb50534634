"""Start the test OpenID Connect provider: python -m tests.oidc_provider.serve --data-dir DIR --port N ...

Generates its RSA signing key, creates its SQLite database, one confidential client (the portal) that skips the
consent screen, and its users, then serves on 127.0.0.1 until killed."""

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--post-logout-redirect-uri", required=True)
    parser.add_argument("--user", action="append", default=[], help="username:password:first name:last name")
    args = parser.parse_args()

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with open(os.path.join(args.data_dir, "oidc.key"), "wb") as f:
        f.write(pem)
    os.environ["PROVIDER_DATA_DIR"] = args.data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    Application.objects.create(
        name="Portail PFMG",
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=args.redirect_uri,
        post_logout_redirect_uris=args.post_logout_redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    for spec in args.user:
        username, password, first_name, last_name = spec.split(":")
        User.objects.create_user(username, password=password, first_name=first_name, last_name=last_name)
    call_command("runserver", f"127.0.0.1:{args.port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main()
