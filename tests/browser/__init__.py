"""Browser tests: Debian's Chromium, driven by Playwright, against the real app and a real Janus."""
