"""Rollouts: the controller's tick loop, the strategies (canary, blue-green), analysis, smoke tests.

See docs/architecture.md for the state machine of each strategy.
"""
