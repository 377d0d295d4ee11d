"""`skillbank train sage`: SAGE's GRPO over sequential rollouts, on a local model.

One step, top to bottom:

1. take ``chains_per_step`` chains of the training split (k similar tasks each);
2. play G rollouts of each (``skillbank.rl.chains``): the policy is the model being
   trained, sampling at ``temperature``; each rollout has its own library;
3. rewards R_i^k (``skillbank.rl.reward``) -> advantages A_i^k = R_i^k - mean_i R^k per
   chain and task position (``skillbank.rl.grpo``; no std normalisation by default);
4. for every (rollout, task) with a non-zero advantage, the log-probabilities of the
   tokens the policy sampled, exactly as it returned them with each reply (the prompt
   ids it read and every id it drew: `skillbank.llm.base.SampledTokens`; nothing is
   re-tokenised, appended or truncated; prompts and observations are context, never
   targets), under the current model at the sampling temperature, and the clipped
   objective's gradient, accumulated row by row so memory stays at one sequence;
5. ``updates_per_batch`` optimiser steps on that batch (AdamW on the LoRA weights only),
   each against the sampling log-probs the policy returned as pi_old: the first update
   has ratio 1 (up to the sampler's rounding), the later ones are clipped.

Everything a run writes lives in ``out_dir``: ``config.json``, ``metrics.jsonl`` (one
row per step, `StepMetrics`), ``curves.png`` (`CURVES`), ``checkpoint/`` (the adapter,
the optimiser and the step, for ``--resume``) and ``adapter/`` (the final adapter,
loadable with ``skillbank run --policy local --adapter-path``). A run stops with
`TruncationError` once more than ``max_truncation`` of its replies hit the token budget.

**Defaults that can learn.** The expert's SFT records (``skillbank data sft --split train
--seeds 0-9``: 1,250 records, 2,000 replies) have replies of up to 783 tokens (99th
percentile 783, 95th 576; Gemma 3's tokenizer) and at most 2 replies per task, so
``max_new_tokens = 1024`` and ``max_turns = 4`` let the policy finish a task the way SFT
taught it, with room for one retry (a test recomputes the percentiles from the records).
``updates_per_batch = 4`` so the clip acts; ``learning_rate = 1e-4`` over ``steps = 20``
(80 AdamW updates) moves a LoRA adapter measurably (a test checks it on a tiny model,
where the old 1e-5 over 4 single-update steps did not).

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
from skillbank.llm.base import SampledTokens
from skillbank.rl.chains import ChainRollout, PolicyTurn, RolloutConfig
from skillbank.rl.grpo import chain_advantages, clipped_objective_loss
from skillbank.rl.reward import REWARD_MODES


@dataclass
class SageConfig:
    """Settings of a SAGE training run (a TOML file's keys are these fields).

    Attributes:
        out_dir: the run directory (metrics, curves, checkpoints, final adapter).
        steps: GRPO steps (each: chains_per_step groups, updates_per_batch optimiser steps).
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
        updates_per_batch: optimiser steps per batch of rollouts, each against the
            sampling log-probs (1: ratio 1, the clip never acts).
        temperature: sampling temperature of the rollouts (the loss divides the logits
            by it too, so it is computed under the distribution that was sampled).
        max_new_tokens: reply budget per turn (at least the SFT replies' 99th percentile).
        max_turns: replies per task during training (the agent's max_steps).
        max_truncation: the share of replies that may hit max_new_tokens before the run
            stops with an error.
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
    steps: int = 20
    split: str = "train"
    world_seed: int = 0
    chain_length: int = 2
    group_size: int = 4
    chains_per_step: int = 1
    reward: str = "skill_integrated"
    outcome: str = "success"
    learning_rate: float = 1e-4
    clip_eps: float = 0.2
    kl_coef: float = 0.0
    normalize_std: bool = False
    updates_per_batch: int = 4
    temperature: float = 0.8
    max_new_tokens: int = 1024
    max_turns: int = 4
    max_truncation: float = 0.1
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
                     "lora_rank", "save_every", "updates_per_batch"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ValidationError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0.0 <= self.max_truncation <= 1.0:
            raise ValidationError(f"max_truncation must be a share in [0, 1], got {self.max_truncation!r}")


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


def _sampled(turn: PolicyTurn) -> SampledTokens:
    if turn.tokens is None:
        raise ValidationError(
            "a turn without its sampled token ids cannot be trained on: the policy must return them "
            "(Completion.tokens; the local policy does), since the loss is computed on exactly what was sampled"
        )
    return turn.tokens


def reply_logprobs(model: Any, turns: Sequence[PolicyTurn], *, entropy: bool = False) -> Any:
    """Log-probabilities of each turn's sampled tokens under `model`, concatenated (1-D);
    with `entropy`, also the policy's entropy at each of those positions (detached).

    Each turn is its own sequence: exactly the ids the policy read and sampled
    (``turn.tokens``: the prompt ids, never truncated, then every sampled id, those after
    the reply's stop included, and nothing the sampler did not produce). The logits are
    divided by the sampling temperature (none at temperature 0), so the log-probs are of
    the distribution the tokens were drawn from and equal ``turn.tokens.logprobs`` when
    the weights are the sampling weights. Only the sampled positions are targets; the
    prompt (observations included) is context, and its logits are never computed.
    """
    import torch

    pieces, entropies = [], []
    for turn in turns:
        sampled = _sampled(turn)
        m = len(sampled.completion_ids)
        if not m:
            continue
        ids = torch.tensor([list(sampled.prompt_ids) + list(sampled.completion_ids)])
        # The last m + 1 positions' logits: position p predicts token p + 1, so the first
        # sampled token is predicted at the prompt's last position; the last is dropped.
        logits = model(input_ids=ids, logits_to_keep=m + 1).logits[0, :-1].float()
        if sampled.temperature > 0:
            logits = logits / sampled.temperature
        logp = torch.log_softmax(logits, dim=-1)
        targets = ids[0, -m:]
        pieces.append(logp.gather(1, targets.unsqueeze(1)).squeeze(1))
        if entropy:
            with torch.no_grad():
                entropies.append(-(logp.exp() * logp).sum(dim=-1))
    out = torch.cat(pieces) if pieces else torch.zeros(0)
    if entropy:
        return out, (torch.cat(entropies) if entropies else torch.zeros(0))
    return out


def sampling_logprobs(turns: Sequence[PolicyTurn]) -> Any:
    """The sampling policy's log-probs of the turns' sampled tokens, in `reply_logprobs`'
    order: pi_old of the clipped objective."""
    import torch

    values = [lp for turn in turns for lp in _sampled(turn).logprobs]
    return torch.tensor(values, dtype=torch.float32)


def grpo_update(
    model: Any,
    rows: Sequence[tuple[Sequence[PolicyTurn], float]],
    optimizer: Any,
    *,
    num_rollouts: int,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    max_grad_norm: float = 1.0,
) -> dict[str, float]:
    """One optimiser step on rows of (the turns of one rollout's task, its advantage).

    The ratio is against the sampling log-probs the policy returned with each reply
    (``turn.tokens.logprobs``), so the first update on a batch has ratio 1 (up to the
    sampler's rounding) and later updates on the same batch are clipped. Rows with
    advantage 0 carry no gradient (without a KL term) and are skipped.

    Returns the loss and, over the trained rows' tokens: ``policy_tokens``,
    ``clip_fraction`` (the share of tokens where the clip zeroes the gradient: ratio
    above 1 + eps with a positive advantage, or below 1 - eps with a negative one),
    ``approx_kl`` (k3 estimate of KL(pi_old || pi): mean of ``(r - 1) - log r``),
    ``entropy`` (mean entropy of the policy at those positions) and ``grad_norm`` (the
    gradients' total norm before clipping to `max_grad_norm`).
    """
    import torch

    model.train()
    optimizer.zero_grad(set_to_none=True)
    total, tokens, clipped, kl_sum, ent_sum = 0.0, 0, 0.0, 0.0, 0.0
    for turns, advantage in rows:
        if advantage == 0.0 and kl_coef == 0.0:
            continue
        lp, ent = reply_logprobs(model, turns, entropy=True)
        if lp.numel() == 0:
            continue
        old = sampling_logprobs(turns).to(lp.dtype)
        ref = None
        if kl_coef:
            with torch.no_grad(), model.disable_adapter():
                ref = reply_logprobs(model, turns)
        loss = clipped_objective_loss(
            lp.unsqueeze(0), old.unsqueeze(0), torch.tensor([advantage]), torch.ones(1, lp.numel()),
            num_rollouts=num_rollouts, clip_eps=clip_eps, kl_coef=kl_coef,
            ref_logprobs=None if ref is None else ref.unsqueeze(0),
        )
        loss.backward()
        with torch.no_grad():
            log_ratio = lp.detach() - old
            ratio = torch.exp(log_ratio)
            region = (ratio > 1 + clip_eps) if advantage > 0 else (ratio < 1 - clip_eps)
            clipped += float(region.sum()) if advantage != 0 else 0.0
            kl_sum += float(((ratio - 1) - log_ratio).sum())
            ent_sum += float(ent.sum())
        total += float(loss.detach())
        tokens += lp.numel()
    grad_norm = 0.0
    if tokens:
        params = [p for p in model.parameters() if p.requires_grad]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
        optimizer.step()
    model.eval()
    n = max(tokens, 1)
    return {"loss": total, "policy_tokens": float(tokens), "clip_fraction": clipped / n, "approx_kl": kl_sum / n,
            "entropy": ent_sum / n, "grad_norm": grad_norm}


# -- the run ----------------------------------------------------------------------------


GroupPlayer = Callable[[list[Any], Callable[[int], Any]], list[list[ChainRollout]]]
"""(chains, policy_for) -> for each chain, its G rollouts; ``policy_for(i)`` gives rollout
i's policy (in-process) or the spec an actor builds it from (Ray)."""


@dataclass
class StepMetrics:
    """One GRPO step, as a row of ``metrics.jsonl``.

    Rewards are means over the step's (rollout, task) pairs: ``reward`` = ``reward_task``
    (the outcome r, or -1 for a reply with no code) + ``reward_skill_bonus`` (what the
    skill-integrated reward added for reuse). ``success``: the share of tasks the world
    graded a success; ``skills_used_per_chain``: per rollout, how many (later task,
    earlier task) pairs used a skill, averaged; ``used_rate``: the share of later tasks
    that used one. ``approx_kl``, ``clip_fraction``, ``entropy`` and ``grad_norm`` are
    `grpo_update`'s, averaged over the step's updates. ``replies`` / ``truncated``: the
    policy's replies this step and those that hit ``max_new_tokens``
    (``truncation_rate`` is their ratio).
    """

    step: int
    reward: float
    reward_task: float
    reward_skill_bonus: float
    success: float
    reward_per_task: list[float]
    outcome_per_task: list[float]
    used_rate: float
    skills_used_per_chain: float
    loss: float
    policy_tokens: int
    approx_kl: float
    clip_fraction: float
    entropy: float
    grad_norm: float
    replies: int
    truncated: int
    truncation_rate: float
    rollout_s: float
    update_s: float
    chains: list[str] = field(default_factory=list)


class TruncationError(ValidationError):
    """Too many replies hit the token budget: the run cannot learn from cut-off replies."""


def rollout_figures(groups: Sequence[Sequence[ChainRollout]]) -> dict[str, Any]:
    """The step's rollout-side figures (see `StepMetrics`) from its groups."""
    from skillbank.rl.reward import NO_CODE_REWARD

    task_parts, bonus_parts, successes, used, pairs, replies, truncated = [], [], [], [], [], 0, 0
    for group in groups:
        for r in group:
            pairs.append(sum(len(t.used_from) for t in r.tasks))
            for k, (t, R) in enumerate(zip(r.tasks, r.rewards)):
                part = NO_CODE_REWARD if t.no_code else t.r
                task_parts.append(part)
                bonus_parts.append(R - part)
                successes.append(1.0 if t.grade.success else 0.0)
                if k > 0:
                    used.append(1.0 if t.used_from else 0.0)
                replies += len(t.turns)
                truncated += sum(1 for turn in t.turns if turn.tokens is not None and turn.tokens.truncated)
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0
    return {"reward_task": mean(task_parts), "reward_skill_bonus": mean(bonus_parts), "success": mean(successes),
            "used_rate": mean(used), "skills_used_per_chain": mean(pairs), "replies": replies, "truncated": truncated,
            "truncation_rate": truncated / replies if replies else 0.0}


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
        rewards, outcomes = [], []
        for group in groups:
            R = np.array([r.rewards for r in group], dtype=float)  # G x K
            A = chain_advantages(R, normalize_std=cfg.normalize_std)
            rewards.append(R)
            outcomes.append(np.array([r.outcomes for r in group], dtype=float))
            for i, r in enumerate(group):
                for k, t in enumerate(r.tasks):
                    rows.append((t.turns, float(A[i, k])))
        started = time.perf_counter()
        updates = [grpo_update(self.model, rows, self.optimizer, num_rollouts=cfg.group_size * len(groups),
                               clip_eps=cfg.clip_eps, kl_coef=cfg.kl_coef)
                   for _ in range(cfg.updates_per_batch)]
        update_s = time.perf_counter() - started
        self.step += 1
        R_all, O_all = np.concatenate(rewards), np.concatenate(outcomes)
        mean = lambda key: float(np.mean([u[key] for u in updates]))  # over the step's updates
        return StepMetrics(
            step=self.step, reward=float(R_all.mean()), reward_per_task=R_all.mean(axis=0).tolist(),
            outcome_per_task=O_all.mean(axis=0).tolist(), loss=mean("loss"), policy_tokens=int(updates[-1]["policy_tokens"]),
            approx_kl=mean("approx_kl"), clip_fraction=mean("clip_fraction"), entropy=mean("entropy"),
            grad_norm=mean("grad_norm"),
            **rollout_figures(groups), rollout_s=round(rollout_s, 3), update_s=round(update_s, 3),
            chains=[c.scenario_id + ":" + "+".join(c.task_ids) for c in chains],
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
            truncation = self._truncation()
            if truncation is not None or self.step % self.config.save_every == 0 or self.step == self.config.steps:
                self.save_checkpoint()
            write_curves(self.out)
            if on_step is not None:
                on_step(m)
            if truncation is not None:
                raise TruncationError(truncation)
        self.model.save_pretrained(str(self.out / "adapter"))
        return done

    def _truncation(self) -> str | None:
        """The error to stop with when more than ``max_truncation`` of the run's replies so
        far (resumed steps included) hit ``max_new_tokens``; else None."""
        rows = _read_metrics(self.out)
        replies = sum(int(r.get("replies", 0)) for r in rows)
        truncated = sum(int(r.get("truncated", 0)) for r in rows)
        cfg = self.config
        if not replies or truncated / replies <= cfg.max_truncation:
            return None
        return (f"{truncated} of {replies} replies so far ({truncated / replies:.0%}) hit max_new_tokens="
                f"{cfg.max_new_tokens}, more than max_truncation={cfg.max_truncation:.0%}: the loss would "
                f"train on replies cut off mid-code; raise max_new_tokens (checkpoint saved at step {self.step})")


def _read_metrics(out_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


#: The panels of ``curves.png``: (title, [(metrics.jsonl key, label)]).
CURVES = (
    ("reward", [("reward", "R (mean)"), ("reward_task", "task"), ("reward_skill_bonus", "skill bonus")]),
    ("success and reuse", [("success", "success"), ("used_rate", "later tasks using a skill"),
                           ("skills_used_per_chain", "skills used per chain")]),
    ("update", [("approx_kl", "approx KL"), ("clip_fraction", "clip fraction")]),
    ("policy", [("entropy", "entropy"), ("grad_norm", "grad norm")]),
    ("replies", [("truncation_rate", "truncation rate")]),
)


def write_curves(out_dir: str | Path) -> Path | None:
    """Draw ``metrics.jsonl``'s figures per step (`CURVES`) as ``curves.png``; None
    without matplotlib or metrics."""
    rows = _read_metrics(out_dir)
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the curves are a convenience; metrics.jsonl holds the numbers
        return None
    fig, axes = plt.subplots(len(CURVES), 1, figsize=(6, 2.2 * len(CURVES)), sharex=True)
    steps = [r["step"] for r in rows]
    for ax, (title, series) in zip(axes, CURVES):
        for key, label in series:
            if all(key in r for r in rows):
                ax.plot(steps, [r[key] for r in rows], marker=".", label=label)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[-1].set_xlabel("GRPO step")
    fig.suptitle("SAGE training")
    fig.tight_layout()
    target = Path(out_dir) / "curves.png"
    fig.savefig(target, dpi=80)
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
