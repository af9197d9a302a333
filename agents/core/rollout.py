"""The one boundary between numpy envs and torch policies.

Workers of :class:`~sim.sampler.VectorSampler` receive a :class:`PolicySnapshot` (a frozen CPU copy
of the policy, fast weights folded in) and return numpy trajectories; :func:`collect` turns those
into an :class:`EpisodeBatch` of tensors on the learner's device. Nothing else in ``agents`` converts
between numpy and torch for sampling.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from agents.core.adaptation import EpisodeRecord
from agents.core.policies import GaussianMLPPolicy
from sim.params import TaskParams
from sim.sampler import EpisodeJob, Policy, StatelessPolicy, Trajectories, VectorSampler


class PolicySnapshot(StatelessPolicy):
    """A frozen CPU copy of a Gaussian policy that sampler workers call on numpy observations.

    Gaussian noise is drawn from the worker's seeded numpy generator, not torch's global one, so a
    rollout is reproducible from the sampler's reset seeds. Each worker runs torch on one thread:
    with two cores, the simulation in the other worker needs the second one.
    """

    def __init__(
        self, policy: GaussianMLPPolicy, params: Mapping[str, Tensor] | None = None, *, deterministic: bool = False
    ) -> None:
        module = copy.deepcopy(policy).to("cpu").eval().requires_grad_(False)
        if params is not None:
            with torch.no_grad():
                for name, parameter in module.named_parameters():
                    if name in params:
                        parameter.copy_(params[name].detach())
        self.module = module
        self.deterministic = deterministic

    def __call__(self, obs: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
        with torch.no_grad():
            mean: NDArray[np.float32] = self.module(torch.as_tensor(obs, dtype=torch.float32)).numpy()
            std: NDArray[np.float32] = self.module.log_std.exp().numpy()
        if self.deterministic:
            return mean
        noisy: NDArray[np.float32] = (mean + std * rng.standard_normal(mean.shape)).astype(np.float32)
        return noisy

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        torch.set_num_threads(1)


@dataclass(frozen=True)
class EpisodeBatch:
    """One episode per env row, env-major (``[E, T, ...]``), on the learner's device.

    Each row keeps the steps up to and including its first ``terminated`` or ``truncated``;
    ``mask`` is 1 there and 0 after (steps after an autoreset belong to no episode here).
    """

    obs: Tensor
    actions: Tensor
    """the unclipped actions the policy sampled (the env clipped what it applied)"""
    rewards: Tensor
    mask: Tensor
    terminated: Tensor
    """1 on the step where the episode ended by failure (no bootstrapping past it)"""
    env_steps: int
    """simulated steps (the real steps of every episode): the honest sample count"""

    @property
    def episode_returns(self) -> Tensor:
        """Undiscounted return of each row's episode."""
        return (self.rewards * self.mask).sum(dim=1)

    @property
    def lengths(self) -> Tensor:
        """Number of real steps of each row's episode."""
        return self.mask.sum(dim=1)


def first_episode_mask(terminated: NDArray[np.bool_], truncated: NDArray[np.bool_]) -> NDArray[np.float32]:
    """``[E, T]`` mask of each row's first episode: 1 up to and including its first done step."""
    done = (terminated | truncated).astype(np.int64)
    dones_before = np.cumsum(done, axis=1) - done
    mask: NDArray[np.float32] = (dones_before == 0).astype(np.float32)
    return mask


def to_episode_batch(trajectories: Trajectories, device: torch.device) -> EpisodeBatch:
    """Time-major sampler output -> env-major tensors on ``device`` (the one numpy->torch step)."""

    def tensor(array: NDArray[Any], dtype: torch.dtype) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(np.swapaxes(array, 0, 1)), dtype=dtype, device=device)

    mask = first_episode_mask(trajectories.terminated.T, trajectories.truncated.T)
    return EpisodeBatch(
        obs=tensor(trajectories.obs, torch.float32),
        actions=tensor(trajectories.actions, torch.float32),
        rewards=tensor(trajectories.rewards, torch.float32),
        mask=torch.as_tensor(mask, device=device),
        terminated=tensor(trajectories.terminated, torch.float32),
        env_steps=int(mask.sum()),
    )


def records_to_batch(episodes: Sequence[EpisodeRecord], device: torch.device) -> EpisodeBatch:
    """Episodes of different lengths (collected one step at a time) -> a padded batch on ``device``."""
    horizon = max(len(e.rewards) for e in episodes)

    def padded(parts: list[NDArray[Any]], tail: tuple[int, ...]) -> Tensor:
        out = np.zeros((len(parts), horizon, *tail), dtype=np.float32)
        for i, part in enumerate(parts):
            out[i, : len(part)] = part
        return torch.as_tensor(out, device=device)

    lengths = [len(e.rewards) for e in episodes]
    ends = [np.eye(1, n, n - 1)[0] * float(e.terminated) for n, e in zip(lengths, episodes, strict=True)]
    return EpisodeBatch(
        obs=padded([e.obs for e in episodes], episodes[0].obs.shape[1:]),
        actions=padded([e.actions for e in episodes], episodes[0].actions.shape[1:]),
        rewards=padded([e.rewards for e in episodes], ()),
        mask=padded([np.ones(n) for n in lengths], ()),
        terminated=padded(ends, ()),
        env_steps=sum(lengths),
    )


def sample_action(
    policy: GaussianMLPPolicy,
    obs: NDArray[np.float32],
    rng: np.random.Generator,
    params: Mapping[str, Tensor] | None = None,
) -> NDArray[np.float32]:
    """One action for one observation, its Gaussian noise drawn from ``rng`` (reproducible from a seed)."""
    device = next(policy.parameters()).device
    with torch.no_grad():
        dist = policy.distribution(torch.as_tensor(obs, device=device)[None], params)
        mean, std = dist.mean[0].cpu().numpy(), dist.stddev[0].cpu().numpy()
    action: NDArray[np.float32] = (mean + std * rng.standard_normal(mean.shape)).astype(np.float32)
    return action


def _pad_time(trajectories: Trajectories, horizon: int) -> Trajectories:
    """Zero-pad the time axis to ``horizon`` (a job stops early once all its episodes ended)."""
    missing = horizon - trajectories.rewards.shape[0]
    if missing == 0:
        return trajectories

    def pad(array: NDArray[Any]) -> NDArray[Any]:
        return np.concatenate([array, np.zeros((missing, *array.shape[1:]), dtype=array.dtype)])

    return Trajectories(*(pad(getattr(trajectories, f)) for f in Trajectories.__dataclass_fields__))


def collect_tasks(
    sampler: VectorSampler,
    policy: GaussianMLPPolicy,
    tasks: Sequence[TaskParams],
    *,
    episodes_per_task: int,
    horizon: int,
    seed: int,
    params: Sequence[Mapping[str, Tensor] | None] | None = None,
    deterministic: bool = False,
) -> list[EpisodeBatch]:
    """``episodes_per_task`` fresh episodes of every task, one :class:`EpisodeBatch` per task.

    Task ``i`` runs under ``params[i]`` (fast weights) when given, else under the policy's own
    weights. The episodes go to the sampler as jobs of at most a worker's env count, dispatched
    to whichever worker is free. Episode ``e`` of task ``i`` is seeded ``seed + i * episodes_per_task + e``,
    so the same seed, tasks and weights give the same batches whatever the worker count.
    """
    snapshots = [
        PolicySnapshot(policy, params[i] if params else None, deterministic=deterministic) for i in range(len(tasks))
    ]
    device = next(policy.parameters()).device
    return collect_with(
        sampler, snapshots, tasks, episodes_per_task=episodes_per_task, horizon=horizon, seed=seed, device=device
    )


def collect_with(
    sampler: VectorSampler,
    policies: Sequence[Policy],
    tasks: Sequence[TaskParams],
    *,
    episodes_per_task: int,
    horizon: int,
    seed: int,
    device: torch.device,
) -> list[EpisodeBatch]:
    """As :func:`collect_tasks`, with any sampler policy per task (``policies[i]`` acts on task ``i``).

    For acting policies that are not a Gaussian snapshot: a policy with memory (RMA's adaptation
    module reading its history) runs here as it will at test time.
    """
    jobs, owners = [], []
    for i, (task, policy) in enumerate(zip(tasks, policies, strict=True)):
        first = seed + i * episodes_per_task
        for start in range(0, episodes_per_task, sampler.envs_per_worker):
            count = min(sampler.envs_per_worker, episodes_per_task - start)
            jobs.append(EpisodeJob(policy, (task,) * count, tuple(range(first + start, first + start + count))))
            owners.append(i)
    parts = [_pad_time(t, horizon) for t in sampler.run_episodes(jobs, horizon)]
    return [
        to_episode_batch(Trajectories.concatenate([p for p, o in zip(parts, owners, strict=True) if o == i]), device)
        for i in range(len(tasks))
    ]
