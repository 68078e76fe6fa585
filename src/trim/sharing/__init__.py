"""A note the person chooses to share with a manager (design section 18)."""
