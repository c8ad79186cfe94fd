"""Operating the service: `broadcast check`, Prometheus metrics, backup and restore, data retention."""
