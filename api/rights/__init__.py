"""Data-subject rights (Art. 15-21) and retention: export, objection, restriction, erasure."""
