"""reliability layer."""
