"""The Daily Papers bot."""
