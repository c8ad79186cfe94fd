"""broadcast/channels."""
