"""Running it: the scheduler, configuration reloads, health, alerts and status."""
