"""broadcast/campaigns."""
