"""Shop data read into orders."""
