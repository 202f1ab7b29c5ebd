"""Lap metrics, coaching efficacy and plots."""
