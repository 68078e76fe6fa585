"""Each person's home: what needs them now, composed from every area's services."""
