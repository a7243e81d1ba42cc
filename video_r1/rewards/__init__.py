"""Rewards: pure scoring functions with the TRL reward signature, and the T-GRPO rule."""
