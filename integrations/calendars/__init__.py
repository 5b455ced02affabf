"""Calendar adapters: each turns a calendar into busy intervals for the scheduler."""
