"""Single sign-on for staff: OpenID Connect with the school's own provider (Microsoft Entra ID,
Google Workspace, or any standard one), through Authlib's Starlette client. docs/sso.md tells a
school's IT admin how to set it up.

The flow is the authorization code flow with PKCE (S256), a random state and a random nonce.
Authlib fetches the provider's discovery document and signing keys, exchanges the code, and checks
the ID token's signature, issuer, audience, expiry and nonce. This module checks the state, that the
discovery document really belongs to the configured issuer, and which email address the provider
vouches for. Matching that address to a member of staff is the route's job (pages/sso.py); an
account is never created here.

While the browser is away at the provider, the state, nonce and PKCE verifier wait in a short-lived
cookie signed with the server's secret key. SafeClass keeps no general-purpose session (Starlette's
SessionMiddleware is not installed) and wants none: a signed cookie needs no storage, survives a
restart, and only the callback reads it. It is HttpOnly, SameSite=Lax (so the provider's redirect
back, a top-level GET, brings it) and, behind HTTPS, Secure with the __Host- prefix, so a sibling
subdomain cannot plant a cookie of its own to sign someone in as somebody else. It is signed, not
encrypted: the browser can read its own nonce and verifier, which guard against other parties, not
against the person signing in.
"""

from __future__ import annotations

import enum
import hmac
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from itsdangerous import BadData, URLSafeTimedSerializer
from joserfc.errors import JoseError

from safeclass.config import Config, ConfigError

with warnings.catch_warnings():
    # Authlib 1.9 prefers the newer httpx2 package and warns once, on import, that its fallback to
    # httpx (which SafeClass pins, as its tests do) is deprecated. Only that warning is let pass.
    from authlib import deprecate as _authlib_deprecate

    warnings.filterwarnings(
        "ignore",
        message="The httpx module is deprecated",
        category=_authlib_deprecate.AuthlibDeprecationWarning,
    )
    from authlib.common.errors import AuthlibBaseError
    from authlib.integrations.starlette_client import OAuth

log = logging.getLogger(__name__)

START_PATH = "/auth/sso/start"
CALLBACK_PATH = "/auth/sso/callback"
DEFAULT_LABEL = "Sign in with your school account"
SCOPES = "openid email profile"
PENDING_MAX_AGE_SECONDS = 10 * 60
PROVIDER_TIMEOUT_SECONDS = 10.0
MAX_EMAIL_LENGTH = 254
MAX_DETAIL_LENGTH = 200
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SsoSettingsError(ConfigError):
    """The SAFECLASS_SSO_* settings are incomplete or unsafe; the message says which and why."""


class Refusal(enum.StrEnum):
    """Why a single sign-on attempt did not sign anyone in (kept in the audit log)."""

    NO_PENDING_SIGN_IN = "no_pending_sign_in"  # no cookie, an expired one, or a forged one
    STATE_MISMATCH = "state_mismatch"
    PROVIDER_SAID_NO = "provider_said_no"  # the person cancelled, or the provider refused
    NO_CODE = "no_code"
    ISSUER_MISMATCH = "issuer_mismatch"
    PROVIDER_UNREACHABLE = "provider_unreachable"
    # The ID token's signature, issuer, audience, expiry or nonce is wrong (a reason, no secret).
    TOKEN_REJECTED = "token_rejected"  # noqa: S105
    NO_EMAIL = "no_email"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    NOT_STAFF = "not_staff"
    STAFF_SWITCHED_OFF = "staff_switched_off"


class SsoRefusedError(Exception):
    def __init__(self, reason: Refusal, detail: str = "", *, email: str | None = None) -> None:
        # Details can quote the provider's answer (or whatever someone typed into the address
        # bar), so they are kept short.
        detail = detail[:MAX_DETAIL_LENGTH]
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.email = email


@dataclass(frozen=True)
class SsoSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    allowed_domains: tuple[str, ...] = ()
    label: str = DEFAULT_LABEL

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"

    @classmethod
    def from_config(cls, config: Config) -> SsoSettings | None:
        """None when single sign-on is off (none of its settings given)."""
        required = {
            "SAFECLASS_SSO_ISSUER": config.sso_issuer,
            "SAFECLASS_SSO_CLIENT_ID": config.sso_client_id,
            "SAFECLASS_SSO_CLIENT_SECRET": config.sso_client_secret,
            "SAFECLASS_SSO_REDIRECT_URI": config.sso_redirect_uri,
        }
        missing = [name for name, value in required.items() if not value]
        if len(missing) == len(required):
            return None
        if missing:
            raise SsoSettingsError(
                f"Single sign-on is only partly set up: {', '.join(missing)} is missing. "
                "Set it (see docs/sso.md), or remove every SAFECLASS_SSO_ setting to turn single "
                "sign-on off."
            )
        _check_address("SAFECLASS_SSO_ISSUER", config.sso_issuer, plain_http_allowed=False)
        _check_address(
            "SAFECLASS_SSO_REDIRECT_URI",
            config.sso_redirect_uri,
            plain_http_allowed=not config.secure_cookies,
        )
        if urlsplit(config.sso_redirect_uri).path != CALLBACK_PATH:
            raise SsoSettingsError(
                f"SAFECLASS_SSO_REDIRECT_URI must end in {CALLBACK_PATH} (for example "
                f"https://safeclass.example.org{CALLBACK_PATH}), and the same address must be "
                "registered with your sign-in provider."
            )
        return cls(
            issuer=config.sso_issuer,
            client_id=config.sso_client_id,
            client_secret=config.sso_client_secret,
            redirect_uri=config.sso_redirect_uri,
            allowed_domains=config.sso_allowed_domains,
            label=config.sso_label or DEFAULT_LABEL,
        )


def _check_address(name: str, address: str, *, plain_http_allowed: bool) -> None:
    parts = urlsplit(address)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and (plain_http_allowed or parts.hostname in _LOOPBACK_HOSTS):
        return
    raise SsoSettingsError(f"{name} must be a full https:// address; it is {address!r}.")


@dataclass(frozen=True)
class PendingSignIn:
    """What SafeClass remembers while the browser is away at the provider."""

    state: str
    nonce: str
    code_verifier: str


class PendingSignIns:
    """Seals a pending sign-in into a signed, timed cookie value, and opens it again."""

    def __init__(self, secret_key: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="safeclass.sso-pending")

    def seal(self, pending: PendingSignIn) -> str:
        return self._serializer.dumps(
            {"state": pending.state, "nonce": pending.nonce, "verifier": pending.code_verifier}
        )

    def open(self, sealed: str | None) -> PendingSignIn | None:
        if not sealed:
            return None
        try:
            values = self._serializer.loads(sealed, max_age=PENDING_MAX_AGE_SECONDS)
        except BadData:  # forged, expired or garbled
            return None
        if not isinstance(values, dict):
            return None
        state, nonce, verifier = values.get("state"), values.get("nonce"), values.get("verifier")
        if not (isinstance(state, str) and isinstance(nonce, str) and isinstance(verifier, str)):
            return None
        return PendingSignIn(state=state, nonce=nonce, code_verifier=verifier)


def pending_cookie_name(config: Config) -> str:
    return "__Host-safeclass-sso" if config.secure_cookies else "safeclass_sso"


@dataclass(frozen=True)
class VouchedFor:
    """Who the provider says this is: its own id for the person, and an email address it has
    verified (lower case, and within the allowed domains when the school set any)."""

    subject: str
    email: str


def vouched_email(claims: Mapping[str, object], allowed_domains: tuple[str, ...]) -> str:
    """The email address the provider vouches for, or a refusal saying what is wrong.

    `email_verified` must be true. Microsoft Entra ID does not send `email_verified`; when it is
    absent, Entra's optional `xms_edov` claim ("email domain owner verified") takes its place.
    """
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise SsoRefusedError(Refusal.NO_EMAIL)
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or "@" not in email:
        raise SsoRefusedError(Refusal.NO_EMAIL, "not an email address")
    verified = claims["email_verified"] if "email_verified" in claims else claims.get("xms_edov")
    if not _is_true(verified):
        raise SsoRefusedError(Refusal.EMAIL_NOT_VERIFIED, email=email)
    domain = email.rpartition("@")[2]
    if allowed_domains and domain not in allowed_domains:
        raise SsoRefusedError(Refusal.DOMAIN_NOT_ALLOWED, domain, email=email)
    return email


def _is_true(claim: object) -> bool:
    # JSON true, or the string "true" that a few providers send instead.
    return claim is True or claim == "true"


# What can go wrong while talking to the provider or checking what it sent.
_REJECTIONS = (AuthlibBaseError, JoseError, KeyError, TypeError, ValueError, RuntimeError)
_EMAIL_CLAIMS = frozenset({"email", "email_verified", "xms_edov"})


class SingleSignOn:
    """One school sign-in provider. Its discovery document and keys are fetched on first use (and
    the keys again when the provider rotates them), so SafeClass starts even while the provider is
    unreachable."""

    def __init__(
        self,
        settings: SsoSettings,
        secret_key: bytes,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.pending = PendingSignIns(secret_key)
        client_kwargs: dict[str, Any] = {
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "timeout": PROVIDER_TIMEOUT_SECONDS,
        }
        if transport is not None:  # tests stand between SafeClass and the provider this way
            client_kwargs["transport"] = transport
        self._client: Any = OAuth().register(
            name="school",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=settings.discovery_url,
            client_kwargs=client_kwargs,
        )

    @classmethod
    def from_config(cls, config: Config) -> SingleSignOn | None:
        settings = SsoSettings.from_config(config)
        return None if settings is None else cls(settings, config.secret_key())

    @property
    def label(self) -> str:
        return self.settings.label

    async def begin(self) -> tuple[str, str]:
        """Where to send the browser (the provider's sign-in page), and the sealed pending
        sign-in for the cookie."""
        await self._metadata()
        created = cast(
            "dict[str, str]",
            await self._client.create_authorization_url(self.settings.redirect_uri),
        )
        pending = PendingSignIn(
            state=created["state"], nonce=created["nonce"], code_verifier=created["code_verifier"]
        )
        return created["url"], self.pending.seal(pending)

    async def finish(self, query: Mapping[str, str], sealed: str | None) -> VouchedFor:
        """Checks the provider's answer (the callback's query) against the pending sign-in."""
        pending = self.pending.open(sealed)
        if pending is None:
            raise SsoRefusedError(Refusal.NO_PENDING_SIGN_IN)
        if not hmac.compare_digest(query.get("state", "").encode(), pending.state.encode()):
            raise SsoRefusedError(Refusal.STATE_MISMATCH)
        if "error" in query:
            raise SsoRefusedError(Refusal.PROVIDER_SAID_NO, query["error"])
        code = query.get("code")
        if not code:
            raise SsoRefusedError(Refusal.NO_CODE)
        issuer = await self._metadata()
        # RFC 9207: a provider that names itself in the answer must be the one we asked.
        if "iss" in query and query["iss"] != issuer:
            raise SsoRefusedError(Refusal.ISSUER_MISMATCH, f"the answer came from {query['iss']}")
        claims = await self._checked_claims(code, pending)
        return VouchedFor(
            subject=str(claims["sub"]),
            email=vouched_email(claims, self.settings.allowed_domains),
        )

    async def _checked_claims(self, code: str, pending: PendingSignIn) -> dict[str, object]:
        try:
            token = await self._client.fetch_access_token(
                redirect_uri=self.settings.redirect_uri,
                code=code,
                code_verifier=pending.code_verifier,
            )
            issuer = self._client.server_metadata["issuer"]
            id_token = await self._client.parse_id_token(
                token,
                nonce=pending.nonce,
                # Authlib checks the issuer by default; the audience only when asked.
                claims_options={
                    "iss": {"essential": True, "value": issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                },
            )
            if id_token is None:
                raise SsoRefusedError(Refusal.TOKEN_REJECTED, "no ID token in the answer")
            claims = dict(id_token)
            if "email" not in claims:
                # The standard lets a provider keep the email for its userinfo endpoint.
                userinfo = dict(await self._client.userinfo(token=token))
                if userinfo.get("sub") != claims["sub"]:
                    raise SsoRefusedError(Refusal.TOKEN_REJECTED, "userinfo is someone else's")
                claims.update(
                    {key: value for key, value in userinfo.items() if key in _EMAIL_CLAIMS}
                )
        except httpx.HTTPError as error:
            raise SsoRefusedError(Refusal.PROVIDER_UNREACHABLE, repr(error)) from error
        except _REJECTIONS as error:
            raise SsoRefusedError(Refusal.TOKEN_REJECTED, repr(error)) from error
        return claims

    async def _metadata(self) -> str:
        """Loads the discovery document once; returns the issuer it names, which must be the one
        configured (OpenID Connect Discovery 1.0, section 4.3)."""
        try:
            metadata = await self._client.load_server_metadata()
        except (httpx.HTTPError, ValueError) as error:  # unreachable, or not JSON
            raise SsoRefusedError(Refusal.PROVIDER_UNREACHABLE, repr(error)) from error
        issuer = metadata.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.settings.issuer.rstrip("/"):
            raise SsoRefusedError(
                Refusal.ISSUER_MISMATCH,
                f"{self.settings.discovery_url} names the issuer {issuer!r}, "
                f"not {self.settings.issuer!r}",
            )
        return issuer
