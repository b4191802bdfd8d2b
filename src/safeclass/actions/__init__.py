"""The only code that changes records: check, write the change and its audit entry together, then
side effects. Everything else (web routes, CLI commands) calls these."""
