"""SafeClass: a live online classroom whose safeguarding rules are enforced by the server."""

__version__ = "0.1.0"
