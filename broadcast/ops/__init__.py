"""Operations: Prometheus metrics, JSON logs, backup and restore, data retention."""
