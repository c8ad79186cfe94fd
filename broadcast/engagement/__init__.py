"""broadcast/engagement."""
