"""Operating the service: `broadcast check` (a configuration against the world) and what it needs."""
