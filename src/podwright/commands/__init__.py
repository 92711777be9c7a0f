"""CLI commands that live in their own module (interfaces layer): `sweep`, `netsim` and `serve-sim`; `options` holds the parameter types they share."""
