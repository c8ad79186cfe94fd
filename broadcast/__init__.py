"""Law-dissemination broadcast service: SMS, voice calls and loudspeaker audio for Vietnamese communes."""

__version__ = "0.1.0"
