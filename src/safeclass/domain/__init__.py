"""Pure rules: policy settings, decisions and checks. No I/O of any kind lives here."""
