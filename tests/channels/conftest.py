"""Fixtures for channel tests: a Twilio simulator on loopback and a callback sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, CallbackSink, callback_sink


def _credentials(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The test's Settings credentials when it uses `settings`, else the simulator constants."""
    if "settings" in request.fixturenames:
        settings = request.getfixturevalue("settings")
        return settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
    return SIM_ACCOUNT_SID, SIM_AUTH_TOKEN


@pytest.fixture
def twilio_simulator(request: pytest.FixtureRequest) -> Iterator[TwilioSimulator]:
    """A fresh simulator per test, started on a free loopback port and stopped afterwards."""
    account_sid, auth_token = _credentials(request)
    with TwilioSimulator(account_sid, auth_token) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def twilio_simulator_factory() -> Iterator[Callable[..., TwilioSimulator]]:
    """Start extra simulators (e.g. with other credentials); all are stopped at session end."""
    started: list[TwilioSimulator] = []

    def make(account_sid: str = SIM_ACCOUNT_SID, auth_token: str = SIM_AUTH_TOKEN, **kwargs: Any) -> TwilioSimulator:
        simulator = TwilioSimulator(account_sid, auth_token, **kwargs)
        simulator.start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def status_sink() -> Iterator[CallbackSink]:
    """A loopback HTTP server recording the status callbacks it receives."""
    with callback_sink() as running:
        yield running
