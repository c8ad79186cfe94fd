"""`python -m broadcast.simulators.twilio [--host H] [--port P] [--account-sid AC…] [--auth-token T]`."""

from __future__ import annotations

import argparse

from broadcast.simulators.twilio.cli import DEFAULT_PORT, run_simulator
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN


def main() -> None:
    """Parse arguments and serve in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m broadcast.simulators.twilio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--account-sid", default=SIM_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=SIM_AUTH_TOKEN)
    args = parser.parse_args()
    run_simulator(args.host, args.port, args.account_sid, args.auth_token)


if __name__ == "__main__":
    main()
