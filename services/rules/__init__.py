"""Versioned, deterministic rule tables: classification, regulatory deadlines and plan policy.
Pure functions; the version of each table is recorded with every decision it makes."""
