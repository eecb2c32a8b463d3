"""Proximal policy optimisation (clipped, GAE) of a :class:`TeacherNet` on one game.

Deliberately small: synchronous MinAtar environments stepped in a Python loop, one
torch thread, a fixed number of frames (not wall time) so a seeded run is
reproducible on CPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from sobolev.fit import progress_enabled
from sobolev_lab.experiments.distillation.envs import action_set, check_game, make_env, obs_shape
from sobolev_lab.experiments.distillation.teachers.net import TeacherNet

__all__ = ["PPOConfig", "train_ppo"]


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters of :func:`train_ppo` (defaults: those measured in NOTES.md)."""

    frames: int = 1_000_000
    n_envs: int = 32
    n_steps: int = 64
    epochs: int = 4
    minibatch: int = 512
    lr: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    channels: int = 16
    hidden: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


def train_ppo(
    game: str, config: PPOConfig, seed: int, *, progress: bool = True
) -> tuple[TeacherNet, dict]:
    """Train a teacher on ``game`` for ``config.frames`` environment frames.

    Parameters
    ----------
    game : str
    config : PPOConfig
    seed : int
        Seeds the network, the environments (``seed * 1000 + i``) and the sampling.
    progress : bool
        Print a line every ~10% of training (stderr is not used for bars here).

    Returns
    -------
    net : TeacherNet
        Trained, in eval mode, on CPU.
    info : dict
        ``seconds``, ``frames`` and ``train_returns`` (mean return of the episodes
        finished in each tenth of training).
    """
    check_game(game)
    if config.frames < config.n_envs * config.n_steps:
        raise ValueError(
            f"frames must be at least n_envs * n_steps = {config.n_envs * config.n_steps}, "
            f"got {config.frames}"
        )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    actions = action_set(game)
    h, w, c = obs_shape(game)
    n_act, E, T = len(actions), config.n_envs, config.n_steps
    net = TeacherNet(c, n_act, config.channels, config.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, eps=1e-5)
    envs = [make_env(game, seed * 1000 + i) for i in range(E)]
    obs = np.stack([e.state() for e in envs]).astype(np.float32)
    ep_ret = np.zeros(E)
    finished: list[float] = []
    tenths: list[float] = []
    iters = config.frames // (E * T)
    t0 = time.perf_counter()
    buf_obs = np.zeros((T, E, h, w, c), np.float32)
    buf_a = np.zeros((T, E), np.int64)
    buf_logp = np.zeros((T, E), np.float32)
    buf_v = np.zeros((T + 1, E), np.float32)
    buf_r = np.zeros((T, E), np.float32)
    buf_done = np.zeros((T, E), np.float32)
    show = progress_enabled(progress) or progress
    for it in range(iters):
        for t in range(T):
            with torch.no_grad():
                logits, v = net(torch.from_numpy(obs))
                logp_all = torch.log_softmax(logits, 1)
                cum = logp_all.exp().cumsum(1).numpy()
            a = np.minimum((rng.random((E, 1)) > cum).sum(1), n_act - 1)
            buf_obs[t], buf_a[t], buf_v[t] = obs, a, v.numpy()
            buf_logp[t] = logp_all.numpy()[np.arange(E), a]
            for i, env in enumerate(envs):
                r, done = env.act(actions[a[i]])
                ep_ret[i] += r
                buf_r[t, i], buf_done[t, i] = r, float(done)
                if done:
                    finished.append(ep_ret[i])
                    ep_ret[i] = 0.0
                    env.reset()
                obs[i] = env.state()
        with torch.no_grad():
            buf_v[T] = net(torch.from_numpy(obs))[1].numpy()
        adv = np.zeros((T, E), np.float32)
        gae = np.zeros(E, np.float32)
        for t in reversed(range(T)):
            nonterminal = 1.0 - buf_done[t]
            delta = buf_r[t] + config.gamma * buf_v[t + 1] * nonterminal - buf_v[t]
            gae = delta + config.gamma * config.gae_lambda * nonterminal * gae
            adv[t] = gae
        ret = adv + buf_v[:T]
        b_obs = torch.from_numpy(buf_obs.reshape(T * E, h, w, c))
        b_a = torch.from_numpy(buf_a.reshape(-1))
        b_logp = torch.from_numpy(buf_logp.reshape(-1))
        b_adv = torch.from_numpy(adv.reshape(-1))
        b_ret = torch.from_numpy(ret.reshape(-1))
        for _ in range(config.epochs):
            perm = torch.from_numpy(rng.permutation(T * E))
            for s in range(0, T * E, config.minibatch):
                mb = perm[s : s + config.minibatch]
                logits, v = net(b_obs[mb])
                logp_all = torch.log_softmax(logits, 1)
                logp = logp_all.gather(1, b_a[mb, None]).squeeze(1)
                a_mb = b_adv[mb]
                a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8)
                ratio = (logp - b_logp[mb]).exp()
                pg = -torch.min(
                    ratio * a_mb, ratio.clamp(1 - config.clip, 1 + config.clip) * a_mb
                ).mean()
                vf = ((v - b_ret[mb]) ** 2).mean()
                ent = -(logp_all.exp() * logp_all).sum(1).mean()
                loss = pg + config.value_coef * vf - config.entropy_coef * ent
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
                opt.step()
        if (it + 1) % max(1, iters // 10) == 0:
            recent = float(np.mean(finished[-100:])) if finished else float("nan")
            tenths.append(recent)
            if show:
                print(
                    f"  ppo {game}: {(it + 1) * E * T:>9,d} frames, "
                    f"mean return (last 100 episodes) {recent:.2f}, "
                    f"{time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
    net.eval()
    info = {
        "seconds": time.perf_counter() - t0,
        "frames": iters * E * T,
        "train_returns": tenths,
    }
    return net, info
