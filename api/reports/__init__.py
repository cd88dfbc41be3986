"""The signed periodic report of a model: figures, fairness, drift, review health, alerts."""
