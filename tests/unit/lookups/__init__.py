"""VIES and the ECB, read from recorded answers."""
