"""Server configuration, read once from the environment.

SAFECLASS_DATA_DIR     where SafeClass keeps its files (default ./var)
SAFECLASS_DATABASE_URL an SQLAlchemy URL (default: an SQLite file in the data folder)
SAFECLASS_HOST/PORT    where the web app listens (default 127.0.0.1:8000)
SAFECLASS_SECURE_COOKIES  "1" behind HTTPS (default: on unless the host is a loopback address)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    host: str
    port: int
    secure_cookies: bool

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("SAFECLASS_DATA_DIR", "var")).resolve()
        database_url = env.get("SAFECLASS_DATABASE_URL") or f"sqlite:///{data_dir / 'safeclass.db'}"
        host = env.get("SAFECLASS_HOST", "127.0.0.1")
        port = int(env.get("SAFECLASS_PORT", "8000"))
        loopback = host in {"127.0.0.1", "localhost", "::1"}
        secure = env.get("SAFECLASS_SECURE_COOKIES", "0" if loopback else "1") == "1"
        return cls(data_dir, database_url, host, port, secure)

    def secret_key(self) -> bytes:
        """The key that signs cookies and forms: made once, kept in the data folder (mode 600)."""
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())
