"""Running it in production: metrics in the Prometheus text format, liveness and readiness,
and `trim doctor`.

Counts and ages only. A label is a route template, a method, a status code, a sweep's name
or a pool's name: never a person's name, an id, or a score (tests/metrics greps for them).
"""
