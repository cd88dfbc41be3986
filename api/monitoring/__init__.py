"""Monitoring: figures without personal data, gathered as decisions are written; drift, fairness."""
