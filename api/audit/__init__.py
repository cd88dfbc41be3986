"""The decision log: an append-only, tamper-evident, encrypted record of every significant step."""
