"""The costing oracle: operations -> time on a system. Compute, memory and network each have
one module here; no other layer computes a time."""
