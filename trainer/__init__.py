"""The SWiRL trainer: logged agent runs -> step examples -> judged and filtered -> SWiRL or SFT.

torch, transformers, TRL and peft are imported only when training starts. See trainer/README.md.
"""

import importlib
from typing import Any

# name -> module; imported on first use, so ``swirl --help`` (which loads the trainer's CLI
# plugin) does not pay for LangChain, LangGraph or torch.
_EXPORTS = {
    "export_model": "trainer.checkpoints",
    "load_base": "trainer.checkpoints",
    "StepExample": "trainer.examples",
    "step_examples": "trainer.examples",
    "FilterResult": "trainer.filters",
    "filter_trajectories": "trainer.filters",
    "LLMOutcomeJudge": "trainer.judges",
    "LLMProcessJudge": "trainer.judges",
    "RuleOutcomeJudge": "trainer.judges",
    "RuleProcessJudge": "trainer.judges",
    "VerdictCache": "trainer.judges",
    "make_judges": "trainer.judges",
    "ReferenceJudge": "trainer.reference",
    "StrictRuleJudge": "trainer.reference",
    "SFTConfig": "trainer.sft",
    "train_sft": "trainer.sft",
    "SwirlConfig": "trainer.swirl",
    "train_swirl": "trainer.swirl",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
