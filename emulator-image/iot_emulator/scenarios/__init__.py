"""Behaviour scenarios: schedules of what devices do beyond their profile (lifecycle events, compromise traffic)."""
