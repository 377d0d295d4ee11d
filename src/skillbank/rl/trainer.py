"""`skillbank train sage`: SAGE's GRPO over sequential rollouts, on a local model.

One step, top to bottom:

1. take ``chains_per_step`` chains of the training split (k similar tasks each);
2. play G rollouts of each (``skillbank.rl.chains``): the policy is the model being
   trained, sampling at ``temperature``; each rollout has its own library;
3. rewards R_i^k (``skillbank.rl.reward``) -> advantages A_i^k = R_i^k - mean_i R^k per
   chain and task position (``skillbank.rl.grpo``; no std normalisation by default);
4. for every (rollout, task) with a non-zero advantage, the log-probabilities of the
   policy's own reply tokens (prompts and observations are context, never targets)
   under the current model, and the clipped objective's gradient, accumulated row by
   row so memory stays at one sequence;
5. one optimiser step (AdamW on the LoRA weights only). Rollouts are sampled from the
   weights being updated, so pi_old = pi and the ratio is 1 at the update (one update
   per batch, as TRL's default ``num_iterations=1``); the clip matters once a batch is
   reused, which ``updates_per_batch > 1`` does.

Everything a run writes lives in ``out_dir``: ``config.json``, ``metrics.jsonl`` (one
row per step), ``reward_curve.png``, ``checkpoint/`` (the adapter, the optimiser and the
step, for ``--resume``) and ``adapter/`` (the final adapter, loadable with
``skillbank run --policy local --adapter-path``).

No TRL: its ``GRPOTrainer`` samples one completion per prompt, while a SAGE sample is a
multi-turn chain of episodes whose second task depends on what the first saved; the loop
is short enough to read here, with the loss from ``skillbank.rl.grpo``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skillbank.errors import ConfigError, ValidationError
from skillbank.rl.chains import ChainRollout, PolicyTurn, RolloutConfig
from skillbank.rl.grpo import chain_advantages, clipped_objective_loss
from skillbank.rl.reward import REWARD_MODES


@dataclass
class SageConfig:
    """Settings of a SAGE training run (a TOML file's keys are these fields).

    Attributes:
        out_dir: the run directory (metrics, curve, checkpoints, final adapter).
        steps: GRPO steps (each: chains_per_step groups, one optimiser step).
        split: the world split chains come from.
        world_seed: the apps world's seed (training seeds: 0-999).
        chain_length: k, tasks per chain (SAGE: 2).
        group_size: G, rollouts per chain (SAGE: 8; 4 here by default).
        chains_per_step: groups per optimiser step.
        reward: skill_integrated (SAGE), outcome_only or chain_based.
        outcome: success (binary) or fraction (the task's own tests only).
        learning_rate: AdamW learning rate on the LoRA weights.
        clip_eps: the PPO clip range epsilon.
        kl_coef: 0 (SAGE: no KL term); above 0 adds k3 KL to the base model (adapter off).
        normalize_std: divide advantages by the group's std (TRL/verl), not SAGE's default.
        updates_per_batch: optimiser steps per batch of rollouts (1: ratio 1, no clipping).
        temperature: sampling temperature of the rollouts.
        max_new_tokens: reply budget per turn.
        max_turns: replies per task during training (the agent's max_steps).
        max_prompt_tokens: prompts longer than this keep their last tokens in the loss pass.
        adapter: the adapter training starts from: "default" (the SFT adapter shipped in
            the package, as SAGE starts from SFT), a path, or "none" for a fresh LoRA on
            the base model.
        lora_rank, lora_alpha: a fresh adapter's shape (when adapter is "none").
        model_path: None for the bundled Gemma 3 270M, or a checkpoint/GGUF path.
        seed: seeds the chain order and the sampling.
        save_every: checkpoint every this many steps.
        threads: torch CPU threads (None: torch's default).
    """

    out_dir: str = "./.skillbank/train/sage"
    steps: int = 4
    split: str = "train"
    world_seed: int = 0
    chain_length: int = 2
    group_size: int = 4
    chains_per_step: int = 1
    reward: str = "skill_integrated"
    outcome: str = "success"
    learning_rate: float = 1e-5
    clip_eps: float = 0.2
    kl_coef: float = 0.0
    normalize_std: bool = False
    updates_per_batch: int = 1
    temperature: float = 0.8
    max_new_tokens: int = 192
    max_turns: int = 3
    max_prompt_tokens: int = 2048
    adapter: str = "default"
    lora_rank: int = 8
    lora_alpha: int = 16
    model_path: str | None = None
    seed: int = 0
    save_every: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.reward not in REWARD_MODES:
            raise ValidationError(f"reward: unknown mode {self.reward!r}; choose one of {', '.join(REWARD_MODES)}")
        if self.outcome not in ("success", "fraction"):
            raise ValidationError(f"outcome must be 'success' or 'fraction', got {self.outcome!r}")
        for name in ("steps", "chain_length", "group_size", "chains_per_step", "max_new_tokens", "max_turns",
                     "max_prompt_tokens", "lora_rank", "save_every", "updates_per_batch"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValidationError(f"learning_rate must be positive, got {self.learning_rate!r}")


def load_config(path: str | Path, **overrides: Any) -> SageConfig:
    """A `SageConfig` from a TOML file (top-level keys, or a ``[sage]`` table)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no config file {str(p)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{str(p)!r} is not valid TOML: {exc}") from None
    data = data.get("sage", data)
    known = {f.name for f in dataclasses.fields(SageConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(f"{str(p)!r}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SageConfig(**data)
    except TypeError as exc:
        raise ValidationError(f"{str(p)!r}: {exc}") from None


# -- the loss pass ----------------------------------------------------------------------


def reply_logprobs(model: Any, tokenizer: Any, turns: Sequence[PolicyTurn], max_prompt_tokens: int):
    """Log-probabilities of the reply tokens of each turn, concatenated (1-D tensor).

    Each turn is its own sequence: the prompt exactly as the policy saw it (rendered by
    the local backend's template) followed by the reply as the template closes it. Only
    the reply's positions are returned: the observation tokens inside later prompts are
    context and are never targets.
    """
    import torch

    from skillbank.llm.template import render_prompt, render_reply

    pieces = []
    for turn in turns:
        prompt_ids = tokenizer(render_prompt(turn.messages))["input_ids"][-max_prompt_tokens:]
        reply_ids = tokenizer(render_reply(turn.reply), add_special_tokens=False)["input_ids"]
        if not reply_ids:
            continue
        ids = torch.tensor([prompt_ids + reply_ids])
        logits = model(input_ids=ids).logits[0, :-1].float()
        logp = torch.log_softmax(logits, dim=-1)
        targets = ids[0, 1:]
        token_logp = logp.gather(1, targets.unsqueeze(1)).squeeze(1)
        pieces.append(token_logp[len(prompt_ids) - 1:])
    if not pieces:
        return torch.zeros(0)
    return torch.cat(pieces)


def grpo_update(
    model: Any,
    tokenizer: Any,
    rows: Sequence[tuple[Sequence[PolicyTurn], float]],
    optimizer: Any,
    *,
    num_rollouts: int,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    max_prompt_tokens: int = 2048,
    old_logprobs: Sequence[Any] | None = None,
) -> dict[str, float]:
    """One optimiser step on rows of (the turns of one rollout's task, its advantage).

    Rows with advantage 0 carry no gradient (without a KL term) and are skipped.
    ``old_logprobs[i]`` are row i's log-probs under the sampling policy (None, or a None
    entry: the rollouts came from the current weights, ratio 1).
    """
    import torch

    model.train()
    optimizer.zero_grad(set_to_none=True)
    total, tokens = 0.0, 0
    for i, (turns, advantage) in enumerate(rows):
        if advantage == 0.0 and kl_coef == 0.0:
            continue
        lp = reply_logprobs(model, tokenizer, turns, max_prompt_tokens)
        if lp.numel() == 0:
            continue
        old = lp.detach() if old_logprobs is None or old_logprobs[i] is None else old_logprobs[i]
        ref = None
        if kl_coef:
            with torch.no_grad(), model.disable_adapter():
                ref = reply_logprobs(model, tokenizer, turns, max_prompt_tokens)
        loss = clipped_objective_loss(
            lp.unsqueeze(0), old.unsqueeze(0), torch.tensor([advantage]), torch.ones(1, lp.numel()),
            num_rollouts=num_rollouts, clip_eps=clip_eps, kl_coef=kl_coef,
            ref_logprobs=None if ref is None else ref.unsqueeze(0),
        )
        loss.backward()
        total += float(loss.detach())
        tokens += lp.numel()
    if tokens:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
    model.eval()
    return {"loss": total, "policy_tokens": float(tokens)}


# -- the run ----------------------------------------------------------------------------


GroupPlayer = Callable[[list[Any], Callable[[int], Any]], list[list[ChainRollout]]]
"""(chains, policy_for) -> for each chain, its G rollouts; ``policy_for(i)`` gives rollout
i's policy (in-process) or the spec an actor builds it from (Ray)."""


@dataclass
class StepMetrics:
    step: int
    reward: float
    reward_per_task: list[float]
    outcome_per_task: list[float]
    used_rate: float
    loss: float
    policy_tokens: int
    rollout_s: float
    update_s: float
    chains: list[str] = field(default_factory=list)


class SageTrainer:
    """The GRPO loop over sequential rollouts, for a peft-wrapped causal LM."""

    def __init__(self, config: SageConfig, model: Any, tokenizer: Any, play_groups: GroupPlayer,
                 chains: Sequence[Any], *, make_policy: Callable[[Any, Any, int], Any] | None = None):
        import torch

        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.play_groups = play_groups
        self.chains = list(chains)
        if not self.chains:
            raise ValidationError("no chains to train on")
        self.make_policy = make_policy or default_policy_factory(config)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValidationError("the model has no trainable parameters (wrap it in a LoRA adapter first)")
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
        self.out = Path(config.out_dir)
        self.step = 0

    # -- persistence ----------------------------------------------------------------

    def save_checkpoint(self) -> None:
        import torch

        ck = self.out / "checkpoint"
        ck.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(ck / "adapter"))
        torch.save({"optimizer": self.optimizer.state_dict(), "step": self.step}, ck / "trainer.pt")
        (ck / "step").write_text(str(self.step))

    def resume(self) -> bool:
        """Load the checkpoint in out_dir if there is one; returns whether it did."""
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        ck = self.out / "checkpoint"
        if not (ck / "trainer.pt").is_file():
            return False
        weights = ck / "adapter" / "adapter_model.safetensors"
        set_peft_model_state_dict(self.model, load_file(str(weights)))
        state = torch.load(ck / "trainer.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        return True

    # -- one step ---------------------------------------------------------------------

    def train_step(self) -> StepMetrics:
        cfg = self.config
        n = cfg.chains_per_step
        chains = [self.chains[(self.step * n + j) % len(self.chains)] for j in range(n)]
        base_seed = cfg.seed * 1_000_003 + self.step * 10_007
        started = time.perf_counter()
        self.model.eval()
        groups = self.play_groups(chains, lambda i: self.make_policy(self.model, self.tokenizer, base_seed + 101 * i))
        rollout_s = time.perf_counter() - started

        rows: list[tuple[Sequence[PolicyTurn], float]] = []
        rewards, outcomes, used = [], [], []
        for group in groups:
            R = np.array([r.rewards for r in group], dtype=float)  # G x K
            A = chain_advantages(R, normalize_std=cfg.normalize_std)
            rewards.append(R)
            outcomes.append(np.array([r.outcomes for r in group], dtype=float))
            for i, r in enumerate(group):
                for k, t in enumerate(r.tasks):
                    rows.append((t.turns, float(A[i, k])))
                    if k > 0:
                        used.append(1.0 if t.used_from else 0.0)
        started = time.perf_counter()
        stats = {"loss": 0.0, "policy_tokens": 0.0}
        old = None
        if cfg.updates_per_batch > 1:
            # The sampling policy's log-probs, fixed before the first update, so later
            # updates on the same batch see ratios away from 1 and the clip applies.
            import torch

            with torch.no_grad():
                old = [None if (a == 0.0 and cfg.kl_coef == 0.0) else
                       reply_logprobs(self.model, self.tokenizer, turns, cfg.max_prompt_tokens) for turns, a in rows]
        for _ in range(cfg.updates_per_batch):
            stats = grpo_update(self.model, self.tokenizer, rows, self.optimizer,
                                num_rollouts=cfg.group_size * len(groups), clip_eps=cfg.clip_eps,
                                kl_coef=cfg.kl_coef, max_prompt_tokens=cfg.max_prompt_tokens, old_logprobs=old)
        update_s = time.perf_counter() - started
        self.step += 1
        R_all, O_all = np.concatenate(rewards), np.concatenate(outcomes)
        return StepMetrics(
            step=self.step, reward=float(R_all.mean()), reward_per_task=R_all.mean(axis=0).tolist(),
            outcome_per_task=O_all.mean(axis=0).tolist(), used_rate=float(np.mean(used)) if used else 0.0,
            loss=stats["loss"], policy_tokens=int(stats["policy_tokens"]), rollout_s=round(rollout_s, 3),
            update_s=round(update_s, 3), chains=[c.scenario_id + ":" + "+".join(c.task_ids) for c in chains],
        )

    # -- the loop -----------------------------------------------------------------------

    def train(self, *, resume: bool = False, on_step: Callable[[StepMetrics], None] | None = None) -> list[StepMetrics]:
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        elif (self.out / "metrics.jsonl").exists():
            raise ConfigError(f"{str(self.out)!r} already holds a run: pass --resume, or choose another out_dir")
        (self.out / "config.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=2) + "\n")
        done: list[StepMetrics] = []
        while self.step < self.config.steps:
            m = self.train_step()
            with (self.out / "metrics.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(dataclasses.asdict(m)) + "\n")
            done.append(m)
            if self.step % self.config.save_every == 0 or self.step == self.config.steps:
                self.save_checkpoint()
            write_reward_curve(self.out)
            if on_step is not None:
                on_step(m)
        self.model.save_pretrained(str(self.out / "adapter"))
        return done


def write_reward_curve(out_dir: str | Path) -> Path | None:
    """Draw ``metrics.jsonl``'s mean reward per step as ``reward_curve.png``."""
    path = Path(out_dir) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the curve is a convenience; metrics.jsonl holds the numbers
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4))
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["reward"] for r in rows], marker="o", label="mean reward R")
    K = len(rows[0]["outcome_per_task"])
    for k in range(K):
        ax.plot(steps, [r["outcome_per_task"][k] for r in rows], linestyle="--", label=f"success, task {k + 1}")
    ax.set_xlabel("GRPO step")
    ax.set_title("SAGE training")
    ax.legend(fontsize=7)
    fig.tight_layout()
    target = Path(out_dir) / "reward_curve.png"
    fig.savefig(target, dpi=90)
    plt.close(fig)
    return target


def default_policy_factory(config: SageConfig) -> Callable[[Any, Any, int], Any]:
    """Rollout policies: the model being trained behind the local backend, sampling."""

    def make(model: Any, tokenizer: Any, seed: int) -> Any:
        from skillbank.llm.local import LocalPolicy
        from skillbank.llm.local_config import LocalConfig
        from skillbank.llm.transformers_backend import TransformersBackend

        cfg = LocalConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=seed)
        return LocalPolicy(cfg, backend=TransformersBackend(model, tokenizer))

    return make


def load_trainable_model(config: SageConfig) -> tuple[Any, Any]:
    """The base model with the starting adapter (trainable) or a fresh LoRA."""
    from skillbank.llm.local_config import LocalConfig
    from skillbank.llm.transformers_backend import load_transformers

    try:
        import peft
    except ImportError:
        raise ConfigError("training needs peft: pip install 'skillbank[train]'") from None
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    from skillbank.llm.model_files import resolve_adapter

    # The base weights, unmerged: the adapter training starts from stays a trainable LoRA.
    model, tokenizer = load_transformers(LocalConfig(model_path=config.model_path, adapter_path="none"))
    start = resolve_adapter(config.adapter)
    if start is not None:
        model = peft.PeftModel.from_pretrained(model, str(start), is_trainable=True)
    else:
        lora = peft.LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                               target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, lora)
    model.eval()
    return model, tokenizer


def in_process_player(world: Any, sessions: Any, rollout: RolloutConfig) -> GroupPlayer:
    """Groups played here, one rollout after another."""
    from skillbank.rl.chains import SequentialRollout, red_team_flag

    seq = SequentialRollout(world, sessions, rollout, flagged=red_team_flag)

    def play(chains: list[Any], policy_for: Callable[[int], Any]) -> list[list[ChainRollout]]:
        return [[seq.play_one(chain, policy_for(i), i) for i in range(rollout.group_size)] for chain in chains]

    return play


def rollout_config(config: SageConfig) -> RolloutConfig:
    from skillbank.agent.config import AgentConfig

    return RolloutConfig(group_size=config.group_size, reward=config.reward, outcome=config.outcome,  # type: ignore[arg-type]
                         agent=AgentConfig(max_steps=config.max_turns))


def seeded(config: SageConfig) -> None:
    random.seed(config.seed)
    np.random.seed(config.seed % (2**32))
    try:
        import torch

        torch.manual_seed(config.seed)
    except ImportError:  # pragma: no cover
        pass
