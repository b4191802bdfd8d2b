"""The STUN and TURN servers a participant's browser is told to use, with short-lived TURN
credentials of its own.

Janus has a public address, so most browsers reach it directly. A school network that blocks UDP
needs a TURN relay (usually TLS on port 443). A TURN password shared by every browser would be in
every pupil's hands and could not be taken back, so SafeClass never hands one out: it signs a
credential for each participant that expires on its own, the "REST API" scheme that coturn
supports with `use-auth-secret` and `static-auth-secret` (the same secret as
SAFECLASS_BROWSER_TURN_SECRET). The username is `<expiry as a Unix time>:<pid>` and the password
is base64(HMAC-SHA1(secret, username)); the relay checks both without asking SafeClass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Long enough for a school day of lessons and rejoins; every rejoin gets a fresh credential.
CREDENTIAL_LIFETIME = timedelta(hours=6)


@dataclass(frozen=True)
class BrowserIceServers:
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.turn_urls and not self.turn_secret:
            raise ValueError("TURN addresses need the relay's shared secret.")

    def for_participant(self, pid: str, now: datetime) -> list[dict[str, Any]]:
        """RTCIceServer entries, as a browser's RTCPeerConnection takes them."""
        servers: list[dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        if self.turn_urls:
            expires = int((now + CREDENTIAL_LIFETIME).timestamp())
            username = f"{expires}:{pid}"
            servers.append(
                {
                    "urls": list(self.turn_urls),
                    "username": username,
                    "credential": turn_credential(self.turn_secret, username),
                }
            )
        return servers


def turn_credential(secret: bytes, username: str) -> str:
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
