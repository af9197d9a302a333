"""The adaptation generator: its event stream, cancellation, frames, and MAML adapting for real."""

from __future__ import annotations

from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.core.adaptation import (
    AdaptConfig,
    AdaptResult,
    BetweenEpisodesAgent,
    EpisodeEvent,
    EpisodeRecord,
    FrameEvent,
    StepEvent,
    StepFeedback,
    UpdateEvent,
    UpdateInfo,
    adapt,
)
from agents.core.policies import GaussianMLPPolicy
from agents.maml.agent import MAMLAgent
from sim.envs.locomotion import EnvConfig, LocomotionEnv
from sim.envs.point_mass import PointMassEnv
from sim.params import TaskParams, with_values

TASK = with_values(TaskParams(), {"goal.target_velocity_mps": 1.0, "goal.target_heading_deg": 90.0})


def point_agent(seed: int = 0) -> MAMLAgent:
    torch.manual_seed(seed)
    return MAMLAgent(GaussianMLPPolicy(obs_dim=4, action_dim=2, hidden_sizes=(16,)), inner_lr=0.1)


def test_events_cover_every_step_episode_and_update_then_one_result() -> None:
    events = list(adapt(point_agent, PointMassEnv, TASK, AdaptConfig(shots=3, max_steps=20, updates=2)))
    steps = [e for e in events if isinstance(e, StepEvent)]
    episodes = [e for e in events if isinstance(e, EpisodeEvent)]
    updates = [e for e in events if isinstance(e, UpdateEvent)]
    assert len(steps) == 60 and [s.step for s in steps[:3]] == [0, 1, 2]
    assert [e.updates_before for e in episodes] == [0, 1, 2]
    assert [e.phase for e in episodes] == ["pre-adaptation", "after update 1", "after update 2"]
    assert [u.update for u in updates] == [1, 2] and all(u.kl > 0 and u.seconds >= 0 for u in updates)
    for episode in episodes:
        rewards = [s.reward for s in steps if s.episode == episode.episode]
        assert episode.episode_return == pytest.approx(sum(rewards))
    result = events[-1]
    assert isinstance(result, AdaptResult) and not any(isinstance(e, AdaptResult) for e in events[:-1])
    assert result.episode_returns == tuple(e.episode_return for e in episodes)
    assert isinstance(result.policy, GaussianMLPPolicy)


def _an_episode(agent: MAMLAgent) -> Any:
    from agents.core.adaptation import EpisodeRecord

    rng = np.random.default_rng(0)
    env = PointMassEnv(TASK)
    obs, _ = env.reset(seed=0)
    observations, actions, rewards, next_obs = [], [], [], []
    for _ in range(15):
        action = agent.act(obs, rng)
        observations.append(obs)
        actions.append(action)
        obs, reward, _, _, _ = env.step(action)
        rewards.append(reward)
        next_obs.append(obs)
    return EpisodeRecord(
        obs=np.array(observations, dtype=np.float32),
        actions=np.array(actions, dtype=np.float32),
        rewards=np.array(rewards, dtype=np.float32),
        next_obs=np.array(next_obs, dtype=np.float32),
        terminated=False,
    )


def test_maml_restarts_weigh_an_episode_by_the_weights_that_collected_it() -> None:
    """The same two episodes adapt differently when the second was collected after an update (down-weighted)."""
    episode = _an_episode(point_agent())
    both_by_init = point_agent()
    both_by_init.learn([episode, episode])  # as if no update came between them
    second_by_adapted = point_agent()
    second_by_adapted.learn([episode])
    second_by_adapted.learn([episode, episode])
    assert any(
        not torch.allclose(second_by_adapted.fast[name], value, atol=1e-6) for name, value in both_by_init.fast.items()
    )


def test_same_seed_gives_the_same_events() -> None:
    def run() -> list[Any]:
        events = adapt(point_agent, PointMassEnv, TASK, AdaptConfig(shots=2, max_steps=10, updates=1, seed=4))
        return [e for e in events if not isinstance(e, (UpdateEvent, AdaptResult))]

    assert run() == run()


class _CloseRecorder(gym.Wrapper):  # type: ignore[type-arg]
    closed = False

    def close(self) -> None:
        type(self).closed = True
        super().close()


def test_closing_the_generator_early_closes_the_env() -> None:
    _CloseRecorder.closed = False
    events = adapt(point_agent, lambda task: _CloseRecorder(PointMassEnv(task)), TASK, AdaptConfig())
    assert isinstance(next(events), StepEvent)
    events.close()
    assert _CloseRecorder.closed


@pytest.mark.slow
def test_frames_come_at_the_chosen_rate_and_show_the_scene() -> None:
    env_config = EnvConfig(render_width=64, render_height=48, max_episode_steps=6)
    task = with_values(TaskParams(), {"robot.name": "ant"})
    make_env = partial(LocomotionEnv, config=env_config, render_mode="rgb_array")
    probe = make_env(task)
    obs_dim, action_dim = probe.observation_space.shape[0], probe.action_space.shape[0]
    probe.close()

    def agent() -> MAMLAgent:
        return MAMLAgent(GaussianMLPPolicy(obs_dim=obs_dim, action_dim=action_dim), inner_lr=0.05)

    events = list(adapt(agent, make_env, task, AdaptConfig(shots=1, max_steps=6, updates=0, frame_every=3)))
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert [f.step for f in frames] == [0, 3]
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].rgb.std() > 5
    no_frames = adapt(agent, make_env, task, AdaptConfig(shots=1, max_steps=6, updates=0))
    assert not any(isinstance(e, FrameEvent) for e in no_frames)


def test_a_bad_budget_is_rejected_naming_the_fields() -> None:
    with pytest.raises(ValueError, match=r"updates=3.*0 <= updates < shots"):
        AdaptConfig(shots=3, updates=3)


def test_the_adapted_policy_reproduces_the_agents_actions() -> None:
    agent = point_agent()
    events = list(adapt(lambda: agent, PointMassEnv, TASK, AdaptConfig(shots=2, max_steps=20, updates=1)))
    result = events[-1]
    assert isinstance(result, AdaptResult)
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32))
    with torch.no_grad():
        exported_mean = result.policy(obs)
        adapted_mean = agent.policy.distribution(obs, agent.fast).mean
        initial_mean = agent.policy(obs)
    assert torch.allclose(exported_mean, adapted_mean, atol=1e-6)
    assert not torch.allclose(exported_mean, initial_mean, atol=1e-4)  # the update really moved it


class _OnlineToyAgent(BetweenEpisodesAgent):
    """Acts with the reward it last observed and counts the steps of its episode: an online agent's hooks."""

    def __init__(self) -> None:
        self.episode_starts = 0
        self.steps_this_episode = 0
        self.last_reward = 0.0
        self.feedback: list[StepFeedback] = []

    def start_episode(self) -> None:
        self.episode_starts += 1
        self.steps_this_episode, self.last_reward = 0, 0.0

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.array([np.clip(self.last_reward, -1, 1), 0.0], np.float32)

    def observe(self, feedback: StepFeedback) -> None:
        self.steps_this_episode += 1
        self.last_reward = feedback.reward
        self.feedback.append(feedback)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.0)

    def adapted_policy(self) -> None:
        return None


def test_an_agent_sees_each_episode_start_and_the_outcome_of_every_action() -> None:
    agent = _OnlineToyAgent()
    events = list(adapt(lambda: agent, PointMassEnv, TASK, AdaptConfig(shots=2, max_steps=10, updates=1)))
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert agent.episode_starts == 2 and agent.steps_this_episode == 10  # reset once per episode
    assert [f.reward for f in agent.feedback] == pytest.approx([s.reward for s in steps])
    second = agent.feedback[1]
    assert second.action[0] == pytest.approx(np.clip(agent.feedback[0].reward, -1, 1))  # acted on what it observed
    assert np.array_equal(agent.feedback[0].next_obs, second.obs)


class _StillAgent(BetweenEpisodesAgent):
    """Zero torques and no learning: what differs between two runs is the task alone."""

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(8, np.float32)

    def learn(self, episodes: list[EpisodeRecord]) -> UpdateInfo:
        return UpdateInfo(loss=0.0, kl=0.0, step_size=0.0)

    def adapted_policy(self) -> None:
        return None


def test_a_scheduled_change_applies_at_its_step_of_every_episode_and_nothing_else() -> None:
    from agents.core.adaptation import TaskChangeEvent
    from sim.task_changes import TaskChange

    task = with_values(TaskParams(), {"robot.name": "ant"})
    drop = TaskChange(6, "robot.payload_kg", 12.0)

    def run(changes: tuple[TaskChange, ...]) -> list[object]:
        config = AdaptConfig(shots=2, updates=0, max_steps=12, changes=changes)
        return list(adapt(_StillAgent, LocomotionEnv, task, config))

    plain, changed = run(()), run((drop,))
    marks = [e for e in changed if isinstance(e, TaskChangeEvent)]
    assert [(m.episode, m.step, m.old, m.new) for m in marks] == [(0, 6, 0.0, 12.0), (1, 6, 0.0, 12.0)]
    assert marks[0].label == "robot.payload_kg 0.0 -> 12.0"
    for episode in (0, 1):  # each episode starts on the task as given: identical until the payload lands
        before = [s.reward for s in plain if isinstance(s, StepEvent) and s.episode == episode]
        after = [s.reward for s in changed if isinstance(s, StepEvent) and s.episode == episode]
        assert before[:6] == after[:6] and before[6:] != after[6:]


def test_a_change_that_would_rebuild_the_world_is_refused_naming_its_field() -> None:
    from sim.task_changes import TaskChange, parse_change

    with pytest.raises(ValueError, match=r"terrain\.kind cannot change mid-episode"):
        TaskChange(10, "terrain.kind", "rough")
    with pytest.raises(ValueError, match=r"robot\.limb_length_scale cannot change mid-episode"):
        parse_change("300:robot.limb_length_scale=1.2")
    assert parse_change("300:robot.payload_kg=10") == TaskChange(300, "robot.payload_kg", 10.0)
    config = AdaptConfig(shots=1, updates=0, max_steps=5, changes=(TaskChange(2, "robot.payload_kg", 99.0),))
    with pytest.raises(ValueError, match=r"robot\.payload_kg = 99\.0 is not allowed"):
        next(adapt(_StillAgent, LocomotionEnv, TaskParams(), config))  # refused before any episode runs


def test_a_live_edit_applies_at_the_next_step_and_the_edits_are_polled_before_every_step() -> None:
    from agents.core.adaptation import TaskChangeEvent

    task = with_values(TaskParams(), {"robot.name": "ant"})
    edits = {4: [("terrain.friction", 0.3)]}
    steps_seen: list[int] = []

    def poll() -> list[tuple[str, object]]:
        steps_seen.append(len(steps_seen))
        return edits.get(len(steps_seen) - 1, [])

    config = AdaptConfig(shots=2, updates=0, max_steps=6)
    events = list(adapt(_StillAgent, LocomotionEnv, task, config, live_changes=poll))
    marks = [e for e in events if isinstance(e, TaskChangeEvent)]
    assert [(m.episode, m.step, m.path, m.new) for m in marks] == [(0, 4, "terrain.friction", 0.3)]
    result = events[-1]
    assert isinstance(result, AdaptResult) and len(steps_seen) == 12  # polled before every step
