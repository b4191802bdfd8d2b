"""The web app: staff pages now; pupils', parents' pages and lesson signalling follow."""
