"""broadcast/accounts."""
