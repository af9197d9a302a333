"""How an agent adapts at test time, where its algorithm offers a choice.

Training fixes the weights; some algorithms can still use them in more than one way when adapting.
Today that is PEARL's posterior: inferred between episodes (the default), or updated after every
transition within the episode too; and an online agent (RMA) with its adaptation switched off, the
ablation that says how much adapting within the episode is worth. The CLI (``adapt --posterior``,
``bench online --pearl-per-step``, ``bench adapt``) asks for agents through these functions, so a
choice an algorithm does not have is refused once, with the flag named, instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.core.adaptation import AdaptiveAgent
from agents.pearl.agent import POSTERIOR_UPDATES, PEARLAgent
from agents.pearl.learner import PEARLLearner
from agents.rma.agent import RMAAgent
from agents.rma.learner import RMALearner
from agents.training.train import TrainedAgent


def agent_factory(trained: TrainedAgent, *, posterior_updates: str = "episode") -> Callable[[], AdaptiveAgent]:
    """A maker of fresh adapting agents for ``trained``, with the chosen posterior updates.

    (:func:`without_adaptation` gives an online agent's no-adaptation ablation.)

    Raises:
        ValueError: naming ``--posterior`` when the value is unknown, or ``step`` is asked of an
            agent that infers no posterior (anything but PEARL).
    """
    if posterior_updates not in POSTERIOR_UPDATES:
        raise ValueError(f"--posterior {posterior_updates!r} is not allowed: one of {', '.join(POSTERIOR_UPDATES)}")
    if posterior_updates == "episode":
        return trained.new_agent
    learner = trained.learner
    if not isinstance(learner, PEARLLearner):
        raise ValueError(
            f"--posterior {posterior_updates} is not allowed for a {trained.algorithm} agent: "
            "only PEARL agents (pearl, oracle-pearl) infer a posterior to update within the episode"
        )
    return lambda: PEARLAgent(policy=learner.policy, encoder=learner.encoder, posterior_updates=posterior_updates)


def without_adaptation(trained: TrainedAgent) -> Callable[[], AdaptiveAgent] | None:
    """A maker of ``trained``'s agent with its within-episode adaptation switched off, or None when it has
    none to switch off (agents that adapt between episodes have their first episode for that).

    For RMA the estimate of the task stays the one from an empty history: the row bench adapt
    compares the adapting agent with ("the same agent before adapting").
    """
    learner = trained.learner
    if not isinstance(learner, RMALearner):
        return None
    return lambda: RMAAgent(learner.online_policy(), reference=learner.teacher_latent(), adapting=False)
