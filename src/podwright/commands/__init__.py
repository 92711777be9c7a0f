"""CLI commands that live in their own module (interfaces layer): `sweep` and `netsim`."""
