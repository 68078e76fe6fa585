"""Flags: raised by the rules on check-ins, incidents and requests; acted on by peers and the lead."""
