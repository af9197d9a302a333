"""Pieces every algorithm shares.

The acting contract and the adaptation loop, rollouts, returns, policies, device, seeding and evaluation.
"""
