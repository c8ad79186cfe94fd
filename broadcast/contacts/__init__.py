"""broadcast/contacts."""
