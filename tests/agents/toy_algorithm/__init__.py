"""A stateful toy algorithm that lives only in the tests: what adding an algorithm takes (issue 12).

It acts on the observation and the mean of the rewards seen so far this episode, a memory it resets
at every episode start, and learns by REINFORCE. Nothing in ``agents/`` knows it: a test registers
it with one :class:`~agents.algorithms.Algorithm` entry.
"""
