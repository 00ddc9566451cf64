"""The pydantic model of params.yaml.

Unknown keys are rejected everywhere; cross-field checks (every language in exactly one family,
families with languages, model references of the right shape, known backends and arbiters) run
when the workflow starts. `validate` turns the first problem into one line naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from expanse.arbiter.config import ArbiterCfg
from expanse.errors import ConfigError
from expanse.evaluation import config as evaluation_config
from expanse.evaluation.config import BenchmarkCfg  # noqa: F401 (re-exported)
from expanse.generation import BACKENDS
from expanse.generation.config import GenerationCfg
from expanse.languages import LANGUAGES
from expanse.merging.config import MERGE_STAGES, MergeCfg, MergeSearchCfg  # noqa: F401 (re-exported)
from expanse.schema import (
    SLURM_OPTION,
    Bool,
    Float,
    Fraction,
    Int,
    Name,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    ScaleName,
    SlurmWord,
    Strict,
    Temperature,
    context_root,
    one_line,
)
from expanse.tiny.spec import TinySpec
from expanse.training.config import DPOCfg, LaunchCfg, LoraCfg, SFTCfg, TrainCfg  # noqa: F401 (re-exported)


def _plain_path(v: str) -> str:
    """A file or directory path without characters a shell or a glob would read, and no '..'."""
    if not re.fullmatch(r"[A-Za-z0-9_./+@%,=-]{1,4096}", v) or v[0] == "-" or ".." in PurePosixPath(v).parts:
        raise ValueError(
            f"{v!r} is not a plain path (A-Z a-z 0-9 _ . / + @ % , = -, no '..' component, not starting with '-')"
        )
    return v


# The resource classes rules draw from (rules/common.smk: resources_for). A key not listed here is
# a typo in params.yaml and is rejected.
RESOURCE_CLASSES = ("default", "tiny", "generate", "score", "sft", "dpo", "merge", "judge", "benchmark")
GENERATION_BACKENDS = BACKENDS.names()


class ModelRef(Strict):
    """Exactly one of `hf` (a hub ID), `path` (a local directory) or `tiny` (built by a rule)."""

    hf: str | None = None
    path: str | None = None
    tiny: TinySpec | None = None
    revision: str | None = None
    trust_remote_code: Bool = False
    # Billions of parameters, read only by `python -m expanse.lineage plan` (model-load hours); left
    # out of model_dump, so a job's params, and what Snakemake reruns, do not change with it.
    size_b: Annotated[Float, Field(gt=0, le=100_000)] | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, v: Any):
        if not isinstance(v, dict):
            raise ValueError(
                f"a model reference is a mapping {{hf: ID}}, {{path: DIR}} or {{tiny: {{...}}}}, got {v!r}"
            )
        kinds = [k for k in ("hf", "path", "tiny") if k in v]
        if len(kinds) != 1:
            raise ValueError(f"a model reference needs exactly one of hf, path, tiny (got {kinds or 'none'})")
        if "hf" in v and (not isinstance(v["hf"], str) or v["hf"].count("/") != 1):
            raise ValueError(f"hf must be a hub ID 'owner/name', got {v['hf']!r}")
        return v

    @field_validator("hf")
    @classmethod
    def _hub_id(cls, v):
        # the hub's own rule for owner and repository names
        for part in v.split("/") if v is not None else ():
            if (
                not re.fullmatch(r"[A-Za-z0-9._-]{1,96}", part)
                or ".." in part
                or "--" in part
                or part[0] in ".-"
                or part[-1] in ".-"
            ):
                raise ValueError(
                    f"{v!r} is not a hub ID: owner and name are 1-96 of A-Z a-z 0-9 _ . - "
                    "(no '..' or '--', not starting or ending with '.' or '-')"
                )
        return v

    @field_validator("revision")
    @classmethod
    def _revision(cls, v):
        if v is not None and (
            not re.fullmatch(r"[A-Za-z0-9._/-]{1,128}", v) or ".." in v or "//" in v or v[0] in "-/" or v.endswith("/")
        ):
            raise ValueError(
                f"{v!r} is not a commit hash, tag or branch (1-128 of A-Z a-z 0-9 _ . / -, "
                "no '..' or '//', not starting with '-' or '/')"
            )
        return v

    @field_validator("path")
    @classmethod
    def _local_dir(cls, v, info: ValidationInfo):
        if v is None:
            raise ValueError("a model directory path is needed")
        _plain_path(v)
        # A directory under results/ is one a rule builds; any other must be there now, or the
        # loader would take a missing 'owner/name' directory for a hub ID.
        if PurePosixPath(v).parts[0] != "results" and not (context_root(info) / v).is_dir():
            raise ValueError(f"directory {v!r} does not exist")
        return v


class TinyTokenizer(Strict):
    """The tiny scale's BPE tokenizer: vocabulary size and the minimum pair frequency."""

    vocab_size: Annotated[Int, Field(gt=0, le=1_048_576)] = 4096
    min_frequency: Annotated[Int, Field(gt=0, le=1_000_000)] = 2


class TinyCorpus(Strict):
    """The tiny corpus: the held-out share of each language's text and the reward model's pairs per language."""

    heldout_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.1
    reward_pairs_per_language: Annotated[Int, Field(gt=0, le=1_000_000)] = 60


class TinyBuild(Strict):
    """How the tiny scale builds its shared pieces (scales.tiny.tiny): the tokenizer and the corpus."""

    tokenizer: TinyTokenizer = TinyTokenizer()
    corpus: TinyCorpus = TinyCorpus()


class PromptsCfg(Strict):
    """Prompt files into prompt tables: the dev share, a cap on train prompts per language, the longest prompt."""

    dev_fraction: Annotated[Float, Field(ge=0, lt=1)] = 0.1
    max_train: PositiveInt | None = None  # cap per language (shrunken test runs)
    max_prompt_chars: Annotated[Int, Field(ge=1, le=1_048_576)] = 32768  # longer prompt: the file is refused


class ArbitrageCfg(Strict):
    """Which teachers answer which prompts. `all`: every teacher answers every prompt (the paper's
    arbitrage). `learned`: every teacher answers a probe sample of each language's prompts
    (probe_fraction of them, at least min_probe), the arbiter's wins on the probe choose the
    language's top_k teachers, and only those answer the rest."""

    routing: Literal["all", "learned"] = "all"
    probe_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.25
    min_probe: Annotated[Int, Field(gt=0, le=1_000_000)] = 4
    top_k: Annotated[Int, Field(gt=0, le=1024)] = 1


class PairsCfg(Strict):
    """Offline preference pairs: the least score margin between chosen and rejected (closer pairs are dropped)."""

    min_margin: NonNegativeFloat = 0.1


# sbatch options the slurm executor sets itself from other resources; slurm_extra may not repeat them
# (the plugin refuses them too, but only at submission).
SLURM_MANAGED_OPTIONS = (
    "job-name",
    "output",
    "account",
    "partition",
    "mem",
    "ntasks",
    "cpus",
    "time",
    "constraint",
    "qos",
    "nodes",
    "clusters",
    "gres",
    "gpus",
)


class Resources(Strict):
    """A SLURM request. `gpu` is the job's total (sbatch --gpus), spread evenly over `nodes`;
    `mem_mb` and `cpus_per_task` are per node (a multi-node job runs one launcher per node)."""

    gpu: Annotated[Int, Field(ge=0, le=4096)] = 0
    gpu_model: Annotated[str, Field(pattern=rf"^{SlurmWord}$", max_length=64)] | None = None
    nodes: Annotated[Int, Field(gt=0, le=512)] = 1
    cpus_per_task: Annotated[Int, Field(gt=0, le=4096)] = 1
    mem_mb: Annotated[Int, Field(gt=0, le=64_000_000)] = 4000  # per node; 64 TB
    runtime: Annotated[Int, Field(gt=0, le=43200)] = 60  # minutes; 30 days
    # one partition or a comma-separated list of them
    slurm_partition: Annotated[str, Field(pattern=rf"^{SlurmWord}(?:,{SlurmWord})*$", max_length=256)] | None = None
    # sbatch long options only, each --name or --name=value (no shell syntax: the executor submits
    # through a shell)
    slurm_extra: Annotated[str, Field(max_length=1024)] | None = None

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
                raise ValueError(
                    f"cpus_per_task: {self.cpus_per_task} CPUs per node cannot be shared evenly by "
                    f"{per_node} GPUs per node"
                )
        if self.gpu_model is not None and self.gpu == 0:
            raise ValueError(f"gpu_model: {self.gpu_model!r} is set but gpu is 0")
        if self.slurm_extra is not None:
            for opt in re.findall(r"(?:^|\s)--?([A-Za-z][\w-]*)", self.slurm_extra):
                if any(opt == m or opt.startswith(m + "-") for m in SLURM_MANAGED_OPTIONS) or opt in {
                    "J",
                    "o",
                    "A",
                    "p",
                    "t",
                    "C",
                    "N",
                    "n",
                    "c",
                    "G",
                    "q",
                    "M",
                }:
                    raise ValueError(
                        f"slurm_extra: {self.slurm_extra!r} sets '{opt}', which the slurm executor "
                        "derives from the other resources (gpu, gpu_model, nodes, cpus_per_task, mem_mb, "
                        "runtime, slurm_partition); set those instead"
                    )
            for token in self.slurm_extra.split(" "):
                if token and not SLURM_OPTION.fullmatch(token):
                    raise ValueError(
                        f"slurm_extra: {token!r} is not an sbatch long option: write each as --name "
                        "or --name=value, values of A-Z a-z 0-9 _ . , : / @ % + = - only, separated "
                        "by spaces"
                    )
        return self


class OnlineCfg(Strict):
    """Online iterative DPO: `iterations` rounds of sampling k completions per prompt from the
    current policy, arbiter ranking, and DPO on best vs worst (reference: the family's DPO model)."""

    iterations: Annotated[Int, Field(gt=0, le=100)] = 3
    samples_per_prompt: Annotated[Int, Field(ge=2, le=1024)] = 4
    temperature: Annotated[Temperature, Field(gt=0)] = 1.0
    top_p: Fraction = 1.0
    min_margin: NonNegativeFloat = 0.1
    dpo: DPOCfg = DPOCfg()


class JudgeCfg(evaluation_config.JudgeCfg):
    """The judge section as params.yaml gives it: the llm judge's model is a model reference (hf or path)."""

    model: ModelRef | None = None

    @model_validator(mode="after")
    def _not_tiny(self):
        if self.model is not None and self.model.tiny is not None:
            raise ValueError("model: a judge model is {hf: ID} or {path: DIR}; tiny judges are not built")
        return self


class EvalCfg(Strict):
    """Win-rates of the merged model per language (judge, both orders, bootstrap intervals) and the
    lm-eval benchmarks of the merged, base and family models."""

    judge: JudgeCfg = JudgeCfg()
    bootstrap: Annotated[Int, Field(gt=0, le=1_000_000)] = 1000
    benchmarks: dict[Name, BenchmarkCfg] = {}


class ModelLoadCfg(Strict):
    """What `python -m expanse.lineage plan` assumes a job's model loading costs; no job reads it. A job
    that loads models holds its GPUs for startup_s (process start, CUDA initialisation, engine start)
    plus, per model it loads, the weights (size_b x the bytes of weights_dtype) read at read_gb_per_s."""

    read_gb_per_s: Annotated[Float, Field(gt=0, le=10_000)] = 2.0
    startup_s: Annotated[Float, Field(ge=0, le=86_400)] = 60.0
    weights_dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"


class Scale(Strict):
    """One scale (tiny, 8b, 32b, ...): its models, every stage's settings, and the SLURM resources of its jobs."""

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
    model_load: ModelLoadCfg = ModelLoadCfg()
    # A GPU request must say which GPU (sbatch --gpus=MODEL:N): on a mixed cluster an unnamed GPU
    # can be one too small for the model. Set false for a cluster with a single GPU type.
    gpu_model_required: Bool = True

    @model_validator(mode="after")
    def _cross(self):
        if not self.teachers:
            raise ValueError("teachers: at least one teacher is needed")
        if self.arbitrage.routing == "learned" and self.arbitrage.top_k >= len(self.teachers):
            raise ValueError(
                f"arbitrage.top_k: routing: learned must leave out a teacher: top_k is "
                f"{self.arbitrage.top_k} of {len(self.teachers)} teachers (use routing: all to ask them all)"
            )
        for key, res in self.resources.items():
            if key not in RESOURCE_CLASSES:
                raise ValueError(f"resources.{key}: unknown resource class (known: {', '.join(RESOURCE_CLASSES)})")
            if res.gpu and res.gpu_model is None and self.gpu_model_required:
                raise ValueError(
                    f"resources.{key}.gpu_model: a request for {res.gpu} GPU(s) must name the GPU "
                    "model (e.g. h100), or set gpu_model_required: false for this scale"
                )
        for key, section in (("sft", self.sft), ("dpo", self.dpo), ("online.dpo", self.online.dpo)):
            res = self.resources.get(key.split(".")[-1]) or self.resources.get("default") or Resources()
            if section.precision == "bf16" and res.gpu == 0:
                raise ValueError(
                    f"{key}.precision: bf16 training needs a GPU (resources.{key.split('.')[-1]} "
                    "has gpu: 0); use fp32 on CPU"
                )
        refs = {
            "base": self.base,
            "reward_model": self.reward_model,
            **{f"teachers.{k}": v for k, v in self.teachers.items()},
        }
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
    """One language: its family and its two prompt files (generation prompts, eval prompts)."""

    family: str
    prompts: str
    eval_prompts: str

    @field_validator("prompts", "eval_prompts")
    @classmethod
    def _file(cls, v):
        return _plain_path(v)

    @field_validator("family", mode="before")
    @classmethod
    def _one_family(cls, v):
        if isinstance(v, list):
            raise ValueError(f"a language belongs to exactly one family, got {len(v)}: {v}")
        return v


class Params(Strict):
    """The whole params.yaml: seed, languages, families with their merge weights, and the scales."""

    # numpy takes seeds below 2**32; online iterations add 1000 per iteration
    seed: Annotated[Int, Field(ge=0, le=2**31 - 1)]
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
                raise ValueError(
                    f"languages.{code}.family: {lang.family!r} is not in families ({', '.join(self.families)})"
                )
        for fam in self.families:
            if not self.family_languages(fam):
                raise ValueError(f"families.{fam}: no language belongs to this family")
        for name, scale in self.scales.items():
            # every merge (after any stage) merges one checkpoint per family
            if scale.merge.method == "slerp" and len(self.families) != 2:
                raise ValueError(
                    f"scales.{name}.merge.method: slerp merges exactly 2 models and there are "
                    f"{len(self.families)} families ({', '.join(self.families)}); use linear or a "
                    "task-vector method"
                )
            density = scale.merge.params.get("density")
            if isinstance(density, list) and len(density) != len(self.families):
                raise ValueError(
                    f"scales.{name}.merge.params.density: {len(density)} values for "
                    f"{len(self.families)} families (give one value, or one per family)"
                )
        return self

    def family_languages(self, family: str) -> list[str]:
        """The language codes of a family, in params.yaml order."""
        return [c for c, lang in self.languages.items() if lang.family == family]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (YAML silently keeps the last one)."""


class _FastStrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same on libyaml's parser where PyYAML has it (every Snakemake start reads params.yaml:
    0.17 s in pure Python, 0.02 s); a syntax error is reported by _StrictLoader, whose messages
    name the offending character."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"{loader.source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# Snakemake reads config files with YTE templating (a top-level `__use_yte__: true` evaluates `?...`
# expressions as Python) and PyYAML's FullLoader (python tags). params.yaml is data: the project's
# loader reads it first and refuses both, so Snakemake only ever sees plain YAML.
TEMPLATING_KEYS = ("__use_yte__",)
MAX_CONFIG_BYTES = 4 << 20


def _parse(cls, text: str, path) -> object:
    loader = cls(text)
    loader.source = str(path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict:
    """Read a YAML file strictly: syntax errors, duplicate keys, bytes that are not UTF-8, python
    tags and templating switches are one-line ConfigErrors naming file:line."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(raw)} bytes, over the {MAX_CONFIG_BYTES} a config file may have")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: invalid UTF-8 (byte 0x{raw[e.start]:02x})") from None
    try:
        data = _parse(_FastStrictLoader, text, path)
    except yaml.YAMLError:
        try:  # again in Python, for its message
            data = _parse(_StrictLoader, text, path)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        raise ConfigError(f"{path}: empty file; expected a mapping at the top level")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in TEMPLATING_KEYS:
        if key in data:
            line = next((i for i, t in enumerate(text.splitlines(), 1) if t.startswith(key)), None)
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: {key}: templating is not allowed; this file is data, not code")
    return data


def validate(data: dict, source: str = "params.yaml", root: str | Path | None = None) -> Params:
    """The Params of params.yaml's data; the first problem is one ConfigError line naming `source` and the key.
    `root`: the directory relative paths are relative to (default: the working directory)."""
    try:
        return Params.model_validate(data, context={"root": root})
    except ValidationError as e:
        raise ConfigError(one_line(e, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """The validated Params of a params file (relative paths in it relative to its directory); ConfigError if not."""
    return validate(load_yaml(path), source=str(path), root=Path(path).parent)
