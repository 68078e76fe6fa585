"""The person's own record, the retention purge, key rotation and the audit page: use
cases that read across every area, so they sit above them (no area imports records)."""
