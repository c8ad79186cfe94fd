"""A Twilio-compatible simulator served on loopback, used by tests, benchmarks and the demo."""

from broadcast.channels.simulator.server import TwilioSimulator, create_app
from broadcast.channels.simulator.state import CALLBACK_MODES, SimMessage, count_segments

__all__ = ["CALLBACK_MODES", "SimMessage", "TwilioSimulator", "count_segments", "create_app"]
