"""A Twilio-compatible simulator served on loopback, used by tests, benchmarks and the demo."""

from broadcast.simulators.twilio.server import TwilioSimulator, create_app
from broadcast.simulators.twilio.state import CALLBACK_MODES, SimMessage, count_segments

__all__ = ["CALLBACK_MODES", "SimMessage", "TwilioSimulator", "count_segments", "create_app"]
