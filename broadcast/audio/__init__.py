"""broadcast/audio."""
