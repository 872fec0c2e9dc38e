"""posthouse.sasl."""
