"""What keeps verified webhooks when the database does not answer: a durable journal on local disk, the
replayer that applies it once the database is back, and the outage bookkeeping (one log line per outage)."""
