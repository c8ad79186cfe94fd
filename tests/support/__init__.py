"""Helpers shared by tests: seeding data and waiting on conditions."""
