"""One module per integration; each reads its own environment variables."""
