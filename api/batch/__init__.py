"""``glassbox batch``: a whole file of people scored as decisions or profiles, in-process."""
