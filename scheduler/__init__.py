"""Campaign scheduler: APScheduler 3 jobs per campaign, catch-up after downtime, one leader per database."""
