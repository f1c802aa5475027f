"""The legal clock: working-day calendar, limits, deadlines and the supervision ladder."""
