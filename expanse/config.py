"""The pydantic model of params.yaml.

Unknown keys are rejected everywhere; cross-field checks (every language in exactly one family,
families with languages, model references of the right shape, known backends and arbiters) run
when the workflow starts. `validate` turns the first problem into one line naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from expanse.arbiter import ARBITERS
from expanse.errors import ConfigError
from expanse.evaluation.judges import JUDGES
from expanse.generation import BACKENDS
from expanse.languages import LANGUAGES

NAME = r"^[a-z][a-z0-9_]*$"
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Name = Annotated[str, Field(pattern=NAME)]
ScaleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$")]


def _known_codes(codes: list[str] | None) -> list[str] | None:
    for code in codes or []:
        if code not in LANGUAGES:
            raise ValueError(f"unknown language code {code!r}")
    return codes


LanguageCodes = Annotated[list[str] | None, AfterValidator(_known_codes)]

# The resource classes rules draw from (rules/common.smk: resources_for). A key not listed here is
# a typo in params.yaml and is rejected.
RESOURCE_CLASSES = ("default", "tiny", "generate", "score", "sft", "dpo", "merge", "judge", "benchmark")
GENERATION_BACKENDS = tuple(BACKENDS)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TinySpec(Strict):
    """A model built locally by rules/tiny.smk (no hub). `init` names the tiny model it starts from."""

    arch: Literal["cohere"] = "cohere"
    hidden: PositiveInt = 128
    layers: PositiveInt = 4
    heads: PositiveInt = 4
    kv_heads: PositiveInt = 2
    ffn: PositiveInt = 512
    init: Literal["base"] | None = None
    languages: LanguageCodes = None  # pretraining focus; None = all configured languages
    other_weight: Annotated[float, Field(ge=0)] = 0.05
    steps: PositiveInt = 100
    lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 16
    seq_len: PositiveInt = 128

    @model_validator(mode="after")
    def _heads(self):
        if self.hidden % self.heads or self.heads % self.kv_heads:
            raise ValueError("hidden must be divisible by heads, heads by kv_heads")
        return self


class ModelRef(Strict):
    """Exactly one of `hf` (a hub ID), `path` (a local directory) or `tiny` (built by a rule)."""

    hf: str | None = None
    path: str | None = None
    tiny: TinySpec | None = None
    revision: str | None = None
    trust_remote_code: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, v: Any):
        if not isinstance(v, dict):
            raise ValueError(f"a model reference is a mapping {{hf: ID}}, {{path: DIR}} or {{tiny: {{...}}}}, got {v!r}")
        kinds = [k for k in ("hf", "path", "tiny") if k in v]
        if len(kinds) != 1:
            raise ValueError(f"a model reference needs exactly one of hf, path, tiny (got {kinds or 'none'})")
        if "hf" in v and (not isinstance(v["hf"], str) or v["hf"].count("/") != 1):
            raise ValueError(f"hf must be a hub ID 'owner/name', got {v['hf']!r}")
        return v


class TinyTokenizer(Strict):
    vocab_size: PositiveInt = 4096
    min_frequency: PositiveInt = 2


class TinyCorpus(Strict):
    heldout_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    reward_pairs_per_language: PositiveInt = 60


class TinyBuild(Strict):
    tokenizer: TinyTokenizer = TinyTokenizer()
    corpus: TinyCorpus = TinyCorpus()


class PromptsCfg(Strict):
    dev_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1
    max_train: PositiveInt | None = None  # cap per language (shrunken test runs)


class GenerationCfg(Strict):
    backend: str = "transformers"
    max_new_tokens: PositiveInt = 64
    min_new_tokens: Annotated[int, Field(ge=0)] = 0
    temperature: Annotated[float, Field(ge=0)] = 0.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    repetition_penalty: PositiveFloat = 1.0
    no_repeat_ngram_size: Annotated[int, Field(ge=0)] = 0
    batch_size: PositiveInt = 16
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "auto"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v):
        if v not in GENERATION_BACKENDS:
            raise ValueError(f"unknown generation backend {v!r} (known: {', '.join(GENERATION_BACKENDS)})")
        return v


class ArbiterCfg(Strict):
    method: str = "combined"
    weights: dict[str, Annotated[float, Field(ge=0)]] = {"reward_model": 1.0, "language_fidelity": 1.0}
    min_lang_prob: Annotated[float, Field(ge=0, le=1)] = 0.5
    target_chars: PositiveInt = 200
    lingua_high_accuracy: bool = False
    batch_size: PositiveInt = 16

    @model_validator(mode="after")
    def _known(self):
        if self.method not in ARBITERS:
            raise ValueError(f"unknown arbiter {self.method!r} (known: {', '.join(ARBITERS)})")
        for k in self.weights:
            if k not in ("reward_model", "language_fidelity"):
                raise ValueError(f"weights: unknown arbiter {k!r}")
        return self


class ArbitrageCfg(Strict):
    """Which teachers answer which prompts. `all`: every teacher answers every prompt (the paper's
    arbitrage). `learned`: every teacher answers a probe sample of each language's prompts
    (probe_fraction of them, at least min_probe), the arbiter's wins on the probe choose the
    language's top_k teachers, and only those answer the rest."""

    routing: Literal["all", "learned"] = "all"
    probe_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    min_probe: PositiveInt = 4
    top_k: PositiveInt = 1


class PairsCfg(Strict):
    min_margin: Annotated[float, Field(ge=0)] = 0.1


# sbatch options the slurm executor sets itself from other resources; slurm_extra may not repeat them
# (the plugin refuses them too, but only at submission).
SLURM_MANAGED_OPTIONS = ("job-name", "output", "account", "partition", "mem", "ntasks", "cpus", "time",
                         "constraint", "qos", "nodes", "clusters", "gres", "gpus")


class Resources(Strict):
    """A SLURM request. `gpu` is the job's total (sbatch --gpus), spread evenly over `nodes`;
    `mem_mb` and `cpus_per_task` are per node (a multi-node job runs one launcher per node)."""

    gpu: Annotated[int, Field(ge=0)] = 0
    gpu_model: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")] | None = None
    nodes: PositiveInt = 1
    cpus_per_task: PositiveInt = 1
    mem_mb: PositiveInt = 4000
    runtime: PositiveInt = 60
    slurm_partition: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.,-]+$")] | None = None
    slurm_extra: str | None = None

    @model_validator(mode="after")
    def _per_node(self):
        if self.nodes > 1 and (self.gpu == 0 or self.gpu % self.nodes):
            raise ValueError(f"gpu: {self.gpu} GPUs cannot be spread evenly over {self.nodes} nodes")
        if self.nodes > 1:
            # SLURM gets one task slot per GPU (the slurm executor's multi-node mode needs > 1 per node)
            per_node = self.gpu // self.nodes
            if per_node < 2:
                raise ValueError(f"gpu: a {self.nodes}-node job needs at least 2 GPUs per node (has {per_node})")
            if self.cpus_per_task % per_node:
                raise ValueError(f"cpus_per_task: {self.cpus_per_task} CPUs per node cannot be shared evenly by "
                                 f"{per_node} GPUs per node")
        if self.gpu_model is not None and self.gpu == 0:
            raise ValueError(f"gpu_model: {self.gpu_model!r} is set but gpu is 0")
        if self.slurm_extra is not None:
            for opt in re.findall(r"(?:^|\s)--?([A-Za-z][\w-]*)", self.slurm_extra):
                if any(opt == m or opt.startswith(m + "-") for m in SLURM_MANAGED_OPTIONS) or opt in {"J", "o", "A", "p", "t", "C", "N", "n", "c", "G", "q", "M"}:
                    raise ValueError(f"slurm_extra: {self.slurm_extra!r} sets '{opt}', which the slurm executor "
                                     "derives from the other resources (gpu, gpu_model, nodes, cpus_per_task, mem_mb, "
                                     "runtime, slurm_partition); set those instead")
        return self


class LoraCfg(Strict):
    """LoRA through peft; merged back into full weights when training ends."""

    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class TrainCfg(Strict):
    """What every trl trainer here shares. `epochs` unless `max_steps` is set; a checkpoint every
    `save_steps` optimizer steps makes a killed job resume where it stopped."""

    lr: PositiveFloat = 1e-5
    epochs: PositiveFloat = 1.0
    max_steps: PositiveInt | None = None
    batch_size: PositiveInt = 8
    grad_accum: PositiveInt = 1
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    max_length: PositiveInt = 1024
    save_steps: PositiveInt = 100
    precision: Literal["fp32", "bf16"] = "bf16"
    gradient_checkpointing: bool = False
    lora: LoraCfg | None = None


class SFTCfg(TrainCfg):
    pass


class DPOCfg(TrainCfg):
    beta: PositiveFloat = 0.1
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = "sigmoid"


class OnlineCfg(Strict):
    """Online iterative DPO: `iterations` rounds of sampling k completions per prompt from the
    current policy, arbiter ranking, and DPO on best vs worst (reference: the family's DPO model)."""

    iterations: PositiveInt = 3
    samples_per_prompt: Annotated[int, Field(ge=2)] = 4
    temperature: PositiveFloat = 1.0
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_margin: Annotated[float, Field(ge=0)] = 0.1
    dpo: DPOCfg = DPOCfg()


MERGE_STAGES = ("sft", "dpo", "online")


class MergeSearchCfg(Strict):
    """A search over the family weights before the final merge, scored by the arbiter on each
    language's dev prompts (expanse/merging/search.py). budget: candidates evaluated, the hand-set
    weights included; max_language_drop: the floor, how far any language's mean score may fall
    below its score under the hand-set weights."""

    enabled: bool = False
    method: Literal["random", "coordinate"] = "random"
    budget: PositiveInt = 8
    max_language_drop: Annotated[float, Field(ge=0)] = 0.05
    step: Annotated[float, Field(gt=0, lt=1)] = 0.5


class MergeCfg(Strict):
    """How the family checkpoints become one model. Weights come from `families` (normalised by
    methods that normalise); `params` are the method's own, checked against its declaration."""

    method: str = "linear"
    params: dict[str, Any] = {}
    after: list[Literal["sft", "dpo", "online"]] = ["online"]
    out_dtype: Literal["float32", "bfloat16", "float16"] | None = None
    max_shard_gb: PositiveFloat = 5.0
    search: MergeSearchCfg = MergeSearchCfg()

    @model_validator(mode="after")
    def _method(self):
        from expanse.merging.engine import MergeError, method_params

        try:
            method_params(self.method, self.params)
        except MergeError as e:
            raise ValueError(f"method: {e}") from None
        if "online" not in self.after:
            raise ValueError("after: the merged model is made after the last stage; 'online' must be listed")
        if self.after != [s for s in MERGE_STAGES if s in self.after]:
            raise ValueError(f"after: list stages once each, in training order ({', '.join(MERGE_STAGES)})")
        return self


class LaunchCfg(Strict):
    """How a training job with several GPUs is launched: accelerate with FSDP (full sharding, ZeRO-3
    equivalent; no extra dependency) or DeepSpeed ZeRO-3 (needs the deepspeed package)."""

    strategy: Literal["fsdp", "deepspeed_zero3"] = "fsdp"
    main_process_port: Annotated[int, Field(gt=1023, lt=65536)] = 29500


class JudgeCfg(Strict):
    """The pairwise judge (expanse.evaluation.judges): `reward_model` scores each answer with the
    scale's reward model; `llm` has `model` read both answers (served by the generation backend)."""

    method: str = "reward_model"
    model: ModelRef | None = None
    tie_margin: Annotated[float, Field(ge=0)] = 0.0
    max_new_tokens: PositiveInt = 512
    batch_size: PositiveInt = 8

    @model_validator(mode="after")
    def _known(self):
        if self.method not in JUDGES:
            raise ValueError(f"method: unknown judge {self.method!r} (known: {', '.join(JUDGES)})")
        if self.method == "llm" and self.model is None:
            raise ValueError("model: the llm judge needs a judge model ({hf: ID} or {path: DIR})")
        if self.method != "llm" and self.model is not None:
            raise ValueError(f"model: the {self.method} judge takes no model (it uses the scale's reward_model)")
        if self.model is not None and self.model.tiny is not None:
            raise ValueError("model: a judge model is {hf: ID} or {path: DIR}; tiny judges are not built")
        return self


class BenchmarkCfg(Strict):
    """One lm-eval benchmark: `tasks` is the task name with {lang}; `languages` those it covers
    (None: every configured language); `include_path` a directory of local task YAMLs (then only
    those are indexed, not lm-eval's own); `metric`
    the key in lm-eval's results ("acc,none")."""

    tasks: str
    metric: str
    languages: LanguageCodes = None
    include_path: str | None = None
    num_fewshot: Annotated[int, Field(ge=0)] | None = None
    limit: PositiveInt | None = None
    batch_size: PositiveInt = 8
    bootstrap_iters: Annotated[int, Field(ge=0)] = 1000
    apply_chat_template: bool = False

    @field_validator("tasks")
    @classmethod
    def _lang_slot(cls, v):
        if "{lang}" not in v:
            raise ValueError(f"tasks must contain {{lang}} (one lm-eval task per language), got {v!r}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        if "," not in v:
            raise ValueError(f"metric is lm-eval's 'name,filter' key (e.g. 'acc,none'), got {v!r}")
        return v


class EvalCfg(Strict):
    """Win-rates of the merged model per language (judge, both orders, bootstrap intervals) and the
    lm-eval benchmarks of the merged, base and family models."""

    judge: JudgeCfg = JudgeCfg()
    bootstrap: PositiveInt = 1000
    benchmarks: dict[Name, BenchmarkCfg] = {}


class Scale(Strict):
    base: ModelRef
    teachers: dict[Name, ModelRef]
    reward_model: ModelRef
    arbiter: ArbiterCfg = ArbiterCfg()
    arbitrage: ArbitrageCfg = ArbitrageCfg()
    generation: GenerationCfg = GenerationCfg()
    prompts: PromptsCfg = PromptsCfg()
    pairs: PairsCfg = PairsCfg()
    sft: SFTCfg = SFTCfg()
    dpo: DPOCfg = DPOCfg()
    online: OnlineCfg = OnlineCfg()
    launch: LaunchCfg = LaunchCfg()
    merge: MergeCfg = MergeCfg()
    eval: EvalCfg = EvalCfg()
    tiny: TinyBuild | None = None
    resources: dict[str, Resources] = {}
    # A GPU request must say which GPU (sbatch --gpus=MODEL:N): on a mixed cluster an unnamed GPU
    # can be one too small for the model. Set false for a cluster with a single GPU type.
    gpu_model_required: bool = True

    @model_validator(mode="after")
    def _cross(self):
        if not self.teachers:
            raise ValueError("teachers: at least one teacher is needed")
        if self.arbitrage.routing == "learned" and self.arbitrage.top_k >= len(self.teachers):
            raise ValueError(f"arbitrage.top_k: routing: learned must leave out a teacher: top_k is "
                             f"{self.arbitrage.top_k} of {len(self.teachers)} teachers (use routing: all to ask them all)")
        for key, res in self.resources.items():
            if key not in RESOURCE_CLASSES:
                raise ValueError(f"resources.{key}: unknown resource class (known: {', '.join(RESOURCE_CLASSES)})")
            if res.gpu and res.gpu_model is None and self.gpu_model_required:
                raise ValueError(f"resources.{key}.gpu_model: a request for {res.gpu} GPU(s) must name the GPU "
                                 "model (e.g. h100), or set gpu_model_required: false for this scale")
        for key, section in (("sft", self.sft), ("dpo", self.dpo), ("online.dpo", self.online.dpo)):
            res = self.resources.get(key.split(".")[-1]) or self.resources.get("default") or Resources()
            if section.precision == "bf16" and res.gpu == 0:
                raise ValueError(f"{key}.precision: bf16 training needs a GPU (resources.{key.split('.')[-1]} "
                                 "has gpu: 0); use fp32 on CPU")
        refs = {"base": self.base, "reward_model": self.reward_model, **{f"teachers.{k}": v for k, v in self.teachers.items()}}
        tiny = [k for k, r in refs.items() if r.tiny is not None]
        if tiny and self.tiny is None:
            raise ValueError(f"{tiny[0]}: a tiny model needs the scale's `tiny:` block")
        if self.base.tiny is not None and self.base.tiny.init is not None:
            raise ValueError("base.tiny.init: the base model is built from scratch")
        if self.reward_model.tiny is not None and self.reward_model.tiny.init != "base":
            raise ValueError("reward_model.tiny.init: a tiny reward model starts from the tiny base (init: base)")
        for k in tiny:
            if k != "base" and refs[k].tiny.init == "base" and self.base.tiny is None:
                raise ValueError(f"{k}.tiny.init: 'base' needs a tiny base model")
        return self


class LanguageCfg(Strict):
    family: str
    prompts: str
    eval_prompts: str

    @field_validator("family", mode="before")
    @classmethod
    def _one_family(cls, v):
        if isinstance(v, list):
            raise ValueError(f"a language belongs to exactly one family, got {len(v)}: {v}")
        return v


class Params(Strict):
    seed: int
    languages: dict[str, LanguageCfg]
    families: dict[Name, PositiveFloat]
    scales: dict[ScaleName, Scale]

    @model_validator(mode="after")
    def _cross(self):
        if not self.languages:
            raise ValueError("languages: at least one language is needed")
        if not self.scales:
            raise ValueError("scales: at least one scale is needed")
        for code, lang in self.languages.items():
            if code not in LANGUAGES:
                raise ValueError(f"languages.{code}: unknown language code (known: {', '.join(sorted(LANGUAGES))})")
            if lang.family not in self.families:
                raise ValueError(f"languages.{code}.family: {lang.family!r} is not in families ({', '.join(self.families)})")
        for fam in self.families:
            if not self.family_languages(fam):
                raise ValueError(f"families.{fam}: no language belongs to this family")
        return self

    def family_languages(self, family: str) -> list[str]:
        return [c for c, lang in self.languages.items() if lang.family == family]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (YAML silently keeps the last one)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"{loader.source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML file strictly: syntax errors and duplicate keys are one-line ConfigErrors."""
    text = Path(path).read_text(encoding="utf-8")
    loader = _StrictLoader(text)
    loader.source = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*): ")


def _format(error: ValidationError, source: str) -> str:
    err = error.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    # Cross-field checks start their message with the key they concern, relative to loc.
    key = _KEY_PREFIX.match(msg)
    if key:
        loc = f"{loc}.{key.group(1)}" if loc else key.group(1)
        msg = msg[key.end():]
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def validate(data: dict, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    return validate(load_yaml(path), source=str(path))
