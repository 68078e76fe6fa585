"""The programme lead's dashboard: aggregates with small numbers suppressed."""
