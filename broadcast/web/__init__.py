"""broadcast/web."""
