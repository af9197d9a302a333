"""PEARL's per-step posterior: updated after every transition, on top of the earlier episodes.

What a user relies on: with ``--posterior step`` the agent's belief about the task at step k is the
posterior of everything it has seen up to step k (earlier episodes and this one so far), exactly
what the encoder gives for that context; with the default the belief moves only between episodes;
and asking an agent that has no posterior for per-step updates is refused, naming the flag.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.core.adaptation import EpisodeRecord, StepFeedback
from agents.pearl.agent import PEARLAgent, records_to_context
from agents.pearl.config import PEARLConfig
from agents.pearl.learner import PEARLLearner
from app.cli.main import main
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values
from sim.tasks import TaskDistribution, UniformRange

H = 12
FAMILY = TaskDistribution(
    name="point-velocity",
    base=with_values(TaskParams(), {"goal.target_heading_deg": 0.0}),
    vary={"goal.target_velocity_mps": UniformRange(0.0, 2.0)},
)
CONFIG = PEARLConfig(horizon=H, num_train_tasks=8, latent_dim=3, hidden_sizes=(32,), encoder_hidden_sizes=(32,))


def agent(posterior_updates: str) -> PEARLAgent:
    """An untrained agent: the posterior's arithmetic does not depend on what the weights learned."""
    learner = PEARLLearner(obs_dim=4, action_dim=2, family=FAMILY, config=CONFIG, seed=0, device=torch.device("cpu"))
    return PEARLAgent(policy=learner.policy, encoder=learner.encoder, posterior_updates=posterior_updates)


def run_episode(pearl: PEARLAgent, seed: int, beliefs: list[torch.Tensor]) -> EpisodeRecord:
    """One episode on the point mass; ``beliefs`` gets the posterior mean after each step."""
    env, rng = PointMassEnv(FAMILY.base, max_episode_steps=H), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    pearl.start_episode()
    rows = []
    for _ in range(H):
        action = pearl.act(obs, rng)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        pearl.observe(StepFeedback(obs, action, float(reward), next_obs, terminated, truncated))
        beliefs.append(pearl.posterior.mean.clone())
        rows.append((obs, action, float(reward), next_obs))
        obs = next_obs
    obs_, actions, rewards, next_obs_ = (np.asarray(column, dtype=np.float32) for column in zip(*rows, strict=True))
    return EpisodeRecord(obs_, actions, rewards.astype(np.float64), next_obs_, False)


def encoder_posterior_mean(pearl: PEARLAgent, episodes: list[EpisodeRecord]) -> torch.Tensor:
    with torch.no_grad():
        mean: torch.Tensor = pearl.encoder(records_to_context(episodes, torch.device("cpu"))[None]).mean
    return mean


def first_steps(episode: EpisodeRecord, k: int) -> EpisodeRecord:
    return EpisodeRecord(episode.obs[:k], episode.actions[:k], episode.rewards[:k], episode.next_obs[:k], False)


def test_the_per_step_posterior_at_each_step_is_the_encoders_posterior_of_everything_seen() -> None:
    pearl, beliefs = agent("step"), list[torch.Tensor]()
    first = run_episode(pearl, seed=1, beliefs=beliefs)
    for k in (1, 5, H):
        torch.testing.assert_close(beliefs[k - 1], encoder_posterior_mean(pearl, [first_steps(first, k)]))
    pearl.learn([first])
    beliefs = []
    second = run_episode(pearl, seed=2, beliefs=beliefs)
    for k in (1, H):
        torch.testing.assert_close(beliefs[k - 1], encoder_posterior_mean(pearl, [first, first_steps(second, k)]))
    assert pearl.context_transitions == 2 * H


def test_the_default_posterior_moves_only_between_episodes() -> None:
    pearl, beliefs = agent("episode"), list[torch.Tensor]()
    first = run_episode(pearl, seed=1, beliefs=beliefs)
    assert all(torch.equal(belief, torch.zeros(1, CONFIG.latent_dim)) for belief in beliefs)  # the prior
    pearl.learn([first])
    beliefs = []
    run_episode(pearl, seed=2, beliefs=beliefs)
    expected = encoder_posterior_mean(pearl, [first])
    assert all(torch.equal(belief, expected) for belief in beliefs)


def test_an_unknown_choice_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'always' are not allowed: one of episode, step"):
        agent("always")


def test_the_cli_adapts_pearl_per_step_and_refuses_it_for_maml(capsys: pytest.CaptureFixture[str]) -> None:
    budget = ["--shots", "2", "--updates", "1", "--steps", "30", "--test-task", "0"]
    assert main(["adapt", "cheetah-velocity", "--algo", "pearl", "--posterior", "step", *budget]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.strip().startswith(("0 ", "1 "))]) == 2
    assert main(["adapt", "cheetah-velocity", "--algo", "maml", "--posterior", "step", *budget]) == 2
    err = capsys.readouterr().err.strip()
    assert "--posterior step is not allowed for a maml agent" in err
    assert len(err.splitlines()) == 1
    assert main(["adapt", "cheetah-velocity", "--algo", "pearl", "--posterior", "sometimes", *budget]) == 2
    assert "--posterior 'sometimes' is not allowed: one of episode, step" in capsys.readouterr().err
