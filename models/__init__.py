"""Activations registry and the networks the claims train."""
