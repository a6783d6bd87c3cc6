"""The SWiRL trainer: logged agent runs -> step examples -> judged and filtered -> SWiRL or SFT.

torch, transformers, TRL and peft are imported only when training starts. See trainer/README.md.
"""

from trainer.checkpoints import export_model, load_base
from trainer.examples import StepExample, step_examples
from trainer.filters import FilterResult, filter_trajectories
from trainer.judges import (
    LLMOutcomeJudge,
    LLMProcessJudge,
    RuleOutcomeJudge,
    RuleProcessJudge,
    VerdictCache,
    make_judges,
)
from trainer.sft import SFTConfig, train_sft
from trainer.swirl import SwirlConfig, train_swirl

__all__ = [
    "FilterResult",
    "LLMOutcomeJudge",
    "LLMProcessJudge",
    "RuleOutcomeJudge",
    "RuleProcessJudge",
    "SFTConfig",
    "StepExample",
    "SwirlConfig",
    "VerdictCache",
    "export_model",
    "filter_trajectories",
    "load_base",
    "make_judges",
    "step_examples",
    "train_sft",
    "train_swirl",
]
