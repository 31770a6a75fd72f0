"""Shop platforms: what the engine needs from a shop, and one folder per platform."""
