"""The data subject's side: tokens, and the ``/v1/me`` routes where a person reads decisions."""
