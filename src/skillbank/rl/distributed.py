"""Rollouts on Ray: one learner, N rollout actors, each with its own world and sandbox pool.

What crosses the wire, per GRPO step:

- learner -> actors: the chain (a scenario id and k task ids) and a *policy spec*, a
  small dict: ``{"kind": "expert"}``, or ``{"kind": "local", "adapter": <the LoRA
  weights as safetensors bytes>, "temperature", "max_new_tokens", "seed", "model_path"}``
  (a few MB for Gemma 3 270M at rank 8; the base model is loaded once per actor from
  its own disk);
- actors -> learner: the `ChainRollout`s (each turn's prompt messages and reply, the
  grades, the rewards): kilobytes per episode.

The learner computes advantages and the loss, steps the optimiser and sends the new
adapter with the next step's specs. Agent code still runs only in each actor's own
sandbox pool. `ray_player(...)` returns a `GroupPlayer` with the same contract as the
in-process one, so the trainer does not know which it has; with the same seeds both
give the same rollouts (a test checks it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from skillbank.errors import ConfigError, ValidationError
from skillbank.rl.chains import Chain, ChainRollout, RolloutConfig, SequentialRollout, red_team_flag


class RolloutWorker:
    """Plays rollouts of chains; Ray runs one per actor (``ray.remote(RolloutWorker)``)."""

    def __init__(self, world_seed: int, rollout: RolloutConfig, sandbox_workers: int = 1):
        from skillbank.sandbox import SandboxConfig, SandboxPool
        from skillbank.worlds.apps import AppsWorld

        self.world = AppsWorld(seed=world_seed)
        self.pool = SandboxPool(SandboxConfig(workers=sandbox_workers))
        self.pool.__enter__()
        self.rollout = SequentialRollout(self.world, lambda host, task_id: self.pool.session(host, task_id=task_id),
                                         rollout, flagged=red_team_flag)
        self._model: Any = None
        self._adapter_key: int | None = None

    def _policy(self, spec: dict[str, Any]) -> Any:
        kind = spec.get("kind")
        if kind == "expert":
            from skillbank.llm.expert import ExpertPolicy

            return ExpertPolicy(self.world)
        if kind == "local":
            from skillbank.llm.local import LocalPolicy
            from skillbank.llm.local_config import LocalConfig
            from skillbank.llm.transformers_backend import TransformersBackend

            model, tokenizer = self._load_model(spec)
            cfg = LocalConfig(max_new_tokens=int(spec["max_new_tokens"]), temperature=float(spec["temperature"]),
                              seed=int(spec["seed"]))
            return LocalPolicy(cfg, backend=TransformersBackend(model, tokenizer))
        raise ValidationError(f"unknown policy spec kind {kind!r}")

    def _load_model(self, spec: dict[str, Any]) -> tuple[Any, Any]:
        import peft
        from safetensors.torch import load

        from skillbank.llm.local_config import LocalConfig
        from skillbank.llm.transformers_backend import load_transformers

        if self._model is None:
            base, tokenizer = load_transformers(LocalConfig(model_path=spec.get("model_path"), adapter_path="none"))
            lora = peft.LoraConfig(**spec["lora_config"])
            self._model = (peft.get_peft_model(base, lora), tokenizer)
        key = hash(spec["adapter"])
        if key != self._adapter_key:
            peft.set_peft_model_state_dict(self._model[0], load(spec["adapter"]))
            self._adapter_key = key
        self._model[0].eval()
        return self._model

    def play(self, chain: Chain, spec: dict[str, Any], index: int) -> ChainRollout:
        return self.rollout.play_one(chain, self._policy(spec), index)

    def close(self) -> None:
        self.pool.__exit__(None, None, None)


def adapter_spec(model: Any, *, temperature: float, max_new_tokens: int, seed: int,
                 model_path: str | None = None) -> dict[str, Any]:
    """The spec of a local policy: the current LoRA weights and how to sample."""
    import peft
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in peft.get_peft_model_state_dict(model).items()}
    lora = model.peft_config["default"]
    lora_config = {"r": lora.r, "lora_alpha": lora.lora_alpha, "lora_dropout": lora.lora_dropout,
                   "target_modules": sorted(lora.target_modules), "task_type": "CAUSAL_LM"}
    return {"kind": "local", "adapter": save(state), "lora_config": lora_config, "temperature": temperature,
            "max_new_tokens": max_new_tokens, "seed": seed, "model_path": model_path}


def ray_player(address: str | None, *, world_seed: int, rollout: RolloutConfig, actors: int = 2,
               num_cpus: int | None = None) -> tuple[Callable[..., list[list[ChainRollout]]], Callable[[], None]]:
    """A `GroupPlayer` whose rollouts run on `actors` Ray actors, and a function that shuts
    them down. `address`: ``"local"`` (or None) starts Ray here; anything else joins
    that cluster (``ray.init(address=...)``)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("rollouts on Ray need ray: pip install 'skillbank[ray]'") from None
    if actors < 1:
        raise ValidationError(f"actors must be at least 1, got {actors}")
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=num_cpus or 2, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": _forwarded_env()})
        else:
            ray.init(address=address, runtime_env={"env_vars": _forwarded_env()})
    # Any: Ray's annotations do not type an actor's methods (their `.remote`).
    Remote: Any = ray.remote(num_cpus=0)(RolloutWorker)
    workers = [Remote.remote(world_seed, rollout) for _ in range(actors)]

    def play(chains: list[Chain], policy_for: Callable[[int], Any]) -> list[list[ChainRollout]]:
        futures = []
        n = 0
        for chain in chains:
            row = []
            for i in range(rollout.group_size):
                row.append(workers[n % len(workers)].play.remote(chain, policy_for(i), i))
                n += 1
            futures.append(row)
        return [ray.get(row) for row in futures]

    def shutdown() -> None:
        for w in workers:
            # Best effort: the actor is killed next anyway.
            with contextlib.suppress(Exception):
                ray.get(w.close.remote(), timeout=30)
            ray.kill(w)

    return play, shutdown


def _forwarded_env() -> dict[str, str]:
    import os

    keep = ("PYTHONPATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "SKILLBANK_SANDBOX_DEBUG")
    return {k: os.environ[k] for k in keep if k in os.environ}

