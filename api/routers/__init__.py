"""One router per resource; each route parses input, calls one command or query, returns a read model."""
