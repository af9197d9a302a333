"""Acting options: the choices in how a trained agent acts that its registry entry lists and its learner hands out.

What a user relies on: every listed choice gives an agent that acts as the choice says, the
default gives the plain agent of any algorithm, and a choice an algorithm lacks is refused in one
line naming the flag, the value and the algorithms that do offer it; no command names an algorithm.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from agents.algorithms import ALGORITHMS, acting_option, offering
from agents.core.adaptation import StepFeedback
from agents.core.learner import ActingOption, OffersActingOptions
from agents.pearl.agent import PEARLAgent
from agents.rma.agent import RMAAgent
from agents.training.agent_options import agent_factory, agent_variant, without_adaptation
from agents.training.train import TrainedAgent, TrainSettings, build_learner, scratch_agent_source
from tests.agents.test_algorithms import FAMILY, TINY


def trained_untrained(name: str) -> TrainedAgent:
    """``name``'s learner at its initial weights as a loaded agent (what an option builds needs no training)."""
    settings = TrainSettings(algorithm=name, env="point_mass", device="cpu", config=ALGORITHMS[name].config(TINY[name]))
    return TrainedAgent(build_learner(settings, FAMILY, torch.device("cpu")), settings, FAMILY, name)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_learner_offers_exactly_the_options_its_entry_lists(name: str) -> None:
    trained = trained_untrained(name)
    options = ALGORITHMS[name].acting_options
    assert isinstance(trained.learner, OffersActingOptions) == bool(options)
    for option in options:
        assert acting_option(option.name) == option  # one declaration per name across the registry
        for value in option.values:
            assert agent_variant(trained, option.name, value)() is not None


def test_pearl_and_oracle_pearl_update_their_posterior_per_step_on_request() -> None:
    assert offering("posterior") == ["pearl", "oracle-pearl"]
    trained = trained_untrained("pearl")
    per_step, default = agent_factory(trained, posterior_updates="step")(), agent_factory(trained)()
    assert isinstance(per_step, PEARLAgent) and isinstance(default, PEARLAgent)
    assert per_step.per_step and not default.per_step


def test_rma_without_adaptation_keeps_the_empty_historys_estimate_and_others_have_none() -> None:
    assert offering("adaptation") == ["rma"]
    trained = trained_untrained("rma")
    make_frozen = without_adaptation(trained)
    assert make_frozen is not None
    frozen, adapting = make_frozen(), trained.new_agent()
    assert isinstance(frozen, RMAAgent) and isinstance(adapting, RMAAgent)
    assert not frozen.adapting and adapting.adapting
    empty = frozen.task_estimate(FAMILY.base)[0]
    obs = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    action = frozen.act(obs, np.random.default_rng(0))
    frozen.observe(StepFeedback(obs, action, 1.0, obs + 1.0, False, False))
    assert np.array_equal(frozen.task_estimate(FAMILY.base)[0], empty)
    assert without_adaptation(trained_untrained("maml")) is None


@pytest.mark.parametrize(
    ("name", "option", "value", "message"),
    [
        (
            "maml",
            "posterior",
            "step",
            "--posterior step is not allowed for a maml agent: only pearl, oracle-pearl agents update their task "
            "posterior within the episode",
        ),
        ("pearl", "posterior", "sometimes", "--posterior 'sometimes' is not allowed: one of episode, step"),
        ("rma", "adaptation", "maybe", "--adaptation 'maybe' is not allowed: one of on, off"),
        ("pearl", "memory", "on", "--memory is not allowed: no algorithm offers it (acting options: posterior,"),
    ],
    ids=["maml-per-step", "unknown-posterior", "unknown-adaptation", "unknown-option"],
)
def test_a_choice_an_agent_lacks_is_refused_in_one_line_naming_the_flag(
    name: str, option: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)) as refused:
        agent_variant(trained_untrained(name), option, value)
    assert "\n" not in str(refused.value)


def test_the_default_gives_the_plain_agent_of_any_algorithm_even_scratch() -> None:
    scratch = scratch_agent_source(FAMILY, env="point_mass")
    assert agent_factory(scratch) == scratch.new_agent
    with pytest.raises(ValueError, match=r"^--posterior step is not allowed for a scratch agent: only pearl,"):
        agent_factory(scratch, posterior_updates="step")


def test_a_learner_refuses_an_option_it_does_not_offer_by_name() -> None:
    learner = trained_untrained("pearl").learner
    assert isinstance(learner, OffersActingOptions)
    refusal = "--adaptation is not allowed here: the only acting option is --posterior"
    with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
        learner.new_agent_with("adaptation", "off")
    option = ActingOption(name="x", values=("a", "b"), offered_as="do x")
    assert option.default == "a"
