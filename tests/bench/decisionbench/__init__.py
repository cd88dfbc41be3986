"""Tests of bench/decisionbench, the decision benchmark behind bench/decisions.py."""
