"""Check-ins without signal (design section 16): the installable app's manifest, service
worker and offline page, and the key that seals what a phone keeps while offline."""
