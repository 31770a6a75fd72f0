"""Commands for the person setting it up: config check, mappings suggest, preview, demo, init."""
