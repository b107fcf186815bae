"""Transformations as interpreters over primitives: staging (partial_eval), autodiff, batching."""
