"""Tests of the benchmark in bench/."""
