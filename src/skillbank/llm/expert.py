"""The scripted expert: plays the world's reference solutions in the skill-library style.

It is not a model. It exists to check the loop end to end (an expert run should reach
TGC 100%) and to show what skills buy (steps and tokens with and without a library).

Per episode it follows a short script built at `start_episode`:

- every skill of the solution was retrieved and loaded → **use**: one reply, the call
  block;
- otherwise → explore (the solution's doc-reading block, when it has one), then
  **create**: the skill sources and the call block in one reply.

With ``fault_rate`` P > 0 (seeded by ``fault_seed`` and the task), each skill the
expert writes is, with probability P, a realistically buggy variant of the reference
(`skillbank.llm.faults`: first page only, off by one, wrong comparison, missing filter,
an undeclared destructive call) instead; ``injected`` lists what was injected where.

If the use reply does not finish the task (say the loaded version is broken), the next
reply redefines the skills and calls them again, an **update**; after that the expert
gives up with ``complete_task(status="fail")`` rather than loop.

Token counts are the shared estimate of `skillbank.llm.base` (one token per 4
characters, rounded up, plus 4 tokens of framing per message): the expert has no
tokenizer, and using the same rule as replay keeps their figures comparable.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence

from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, estimate_prompt_tokens, estimate_tokens
from skillbank.worlds.base import ExpertSolution, World

_GIVE_UP = 'apis.supervisor.complete_task(status="fail")'


def _reply(reasoning: str, code: str) -> str:
    return f"{reasoning}\n\n```python\n{code.strip()}\n```"


class ExpertPolicy:
    """`Policy` that replays `world.expert_solution(task_id)` in the skill-library style."""

    name = "expert"

    def __init__(self, world: World, *, fault_rate: float = 0.0, fault_seed: int = 0):
        if not 0.0 <= fault_rate <= 1.0:
            raise ValidationError(f"fault_rate must be in [0, 1], got {fault_rate!r}")
        self.world = world
        self.fault_rate = fault_rate
        self.fault_seed = fault_seed
        self.injected: list[dict[str, str]] = []  # faults the expert actually wrote
        self._pending: list[dict[str, str]] = []
        self._script: list[str] = []
        self._step = 0

    def start_episode(self, info: EpisodeInfo) -> None:
        solution = self.world.expert_solution(info.task.id)
        if self.fault_rate > 0:
            solution = self._inject(solution)
        self._script = self._plan(solution, set(info.skill_names))
        self._step = 0

    def _inject(self, solution: ExpertSolution) -> ExpertSolution:
        from skillbank.llm.faults import buggy_variant

        rng = random.Random(f"{self.fault_seed}:{solution.task_id}")
        self._pending = []
        sources = []
        for name, source in zip(solution.skill_names, solution.skill_sources):
            fault = buggy_variant(source, rng, self.world) if rng.random() < self.fault_rate else None
            if fault is not None:
                self._pending.append({"task_id": solution.task_id, "skill": name, "fault": fault.kind,
                                      "source": fault.source})
            sources.append(fault.source if fault is not None else source)
        return dataclasses.replace(solution, skill_sources=tuple(sources))

    @staticmethod
    def _plan(solution: ExpertSolution, loaded: set[str]) -> list[str]:
        skills = ", ".join(f"`{n}`" for n in solution.skill_names)
        define = "\n\n".join(s.strip() for s in solution.skill_sources)
        create_code = f"{define}\n\n{solution.call_block.strip()}" if define else solution.call_block
        if solution.skill_names and set(solution.skill_names) <= loaded:
            return [
                _reply(f"The library already has {skills}, which does exactly this; I will call it.",
                       solution.call_block),
                _reply(f"The library version of {skills} did not finish the task; I will rewrite it "
                       "and call it again.", create_code),
                _reply("That did not work either; I will report the task as failed.", _GIVE_UP),
            ]
        script = []
        if solution.explore_block:
            script.append(_reply("First I will read the docs of the APIs this task needs.", solution.explore_block))
        if solution.skill_names:
            reasoning = f"I will write {skills} as reusable functions and call them for this task."
        else:
            reasoning = "This needs no reusable function; I will call the APIs directly."
        script.append(_reply(reasoning, create_code))
        script.append(_reply("The task is not finished and I have no better plan; I will report it as failed.",
                             _GIVE_UP))
        return script

    def generate(self, messages: Sequence[Message]) -> Completion:
        if not self._script:
            raise ValidationError("ExpertPolicy.generate called before start_episode")
        started = time.perf_counter()
        # Past the end of the script the expert keeps giving up (the loop's step limit ends it).
        text = self._script[min(self._step, len(self._script) - 1)]
        self._step += 1
        for fault in list(self._pending):
            if fault["source"].strip() in text:
                self.injected.append(fault)
                self._pending.remove(fault)
        return Completion(
            text=text,
            prompt_tokens=estimate_prompt_tokens(messages),
            completion_tokens=self.count_tokens(text),
            latency_s=time.perf_counter() - started,
        )

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)
