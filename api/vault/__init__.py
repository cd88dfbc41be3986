"""The key vault: each subject's data keys, and the personal fields sealed under them."""
