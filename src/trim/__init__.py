"""trim: peer support (TRiM) for first responders."""
