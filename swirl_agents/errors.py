"""Errors with messages meant for users (the CLI prints them as one line)."""


class SwirlError(Exception):
    """A failure the user can act on; the CLI prints it and exits 1."""


class UsageError(SwirlError):
    """Bad input from the user (a flag, a file); the CLI prints it and exits 2."""
