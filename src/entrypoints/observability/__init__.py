"""What an operator sees: Prometheus metrics, structured logs, the access log."""
