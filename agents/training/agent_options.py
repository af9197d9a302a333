"""How an agent acts at test time, where its algorithm offers a choice.

Training fixes the weights; some algorithms can still act on them in more than one way
(:class:`~agents.core.learner.ActingOption`), and their registry entries say which. The CLI
(``adapt --posterior``, ``bench online --pearl-per-step``, ``bench adapt``) asks for agents through
these functions, so a choice an algorithm does not have is refused once, with the flag named,
instead of being ignored, and no command needs to know which algorithm offers what.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from agents.algorithms import acting_option, offering
from agents.core.adaptation import AdaptiveAgent
from agents.core.learner import OffersActingOptions
from agents.training.train import TrainedAgent


def offers(trained: TrainedAgent, option: str) -> bool:
    """Whether ``trained``'s algorithm offers the acting option called ``option``."""
    return trained.algorithm in offering(option)


def agent_variant(trained: TrainedAgent, option: str, value: str) -> Callable[[], AdaptiveAgent]:
    """A maker of fresh agents of ``trained`` acting with ``option`` set to ``value``.

    The option's default is how every agent acts, so it gives ``trained``'s plain agents whatever its
    algorithm; only the other values need an algorithm that offers the option.

    Raises:
        ValueError: naming ``--option`` when no algorithm offers it, ``value`` is not one of its
            values, or ``trained``'s algorithm does not offer it (saying which algorithms do).
    """
    declared = acting_option(option)
    declared.check(option, value)
    if value == declared.default:
        return trained.new_agent
    if not offers(trained, option):
        raise ValueError(
            f"--{option} {value} is not allowed for a {trained.algorithm} agent: "
            f"only {', '.join(offering(option))} agents {declared.offered_as}"
        )
    learner = trained.learner
    if not isinstance(learner, OffersActingOptions):  # the registry entry and its learner disagree
        raise TypeError(f"the {trained.algorithm} learner offers no acting options, yet its entry lists --{option}")
    return functools.partial(learner.new_agent_with, option, value)


def agent_factory(trained: TrainedAgent, *, posterior_updates: str = "episode") -> Callable[[], AdaptiveAgent]:
    """A maker of fresh adapting agents for ``trained``, with the posterior updates ``adapt --posterior`` chose.

    (:func:`without_adaptation` gives an online agent's no-adaptation ablation.)

    Raises:
        ValueError: naming ``--posterior`` when the value is unknown, or ``step`` is asked of an
            agent that infers no posterior.
    """
    return agent_variant(trained, "posterior", posterior_updates)


def without_adaptation(trained: TrainedAgent) -> Callable[[], AdaptiveAgent] | None:
    """A maker of ``trained``'s agent with its within-episode adaptation switched off, or None when it has
    none to switch off (agents that adapt between episodes have their first episode for that).

    The row bench adapt compares the adapting agent with ("the same agent before adapting").
    """
    if not offers(trained, "adaptation"):
        return None
    return agent_variant(trained, "adaptation", "off")
