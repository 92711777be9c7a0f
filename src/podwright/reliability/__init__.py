"""Failure rates from the bill of materials, checkpoint/restart, goodput."""
