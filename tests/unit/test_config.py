"""Config validation: the shipped params load, and each kind of mistake is one line naming the key."""

import pytest
from conftest import REPO

from expanse.config import load_params, load_yaml, validate
from expanse.errors import ConfigError
from expanse.languages import LANGUAGES


def reject(params) -> str:
    with pytest.raises(ConfigError) as e:
        validate(params)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("params.yaml: ")
    return msg


def test_shipped_params_load_every_scale():
    p = load_params(REPO / "params.yaml")
    assert set(p.languages) == set(LANGUAGES) and len(p.languages) == 23
    assert set(p.scales) == {"tiny", "8b", "32b"}
    assert all(len(p.family_languages(f)) >= 1 for f in p.families)
    for name in ("8b", "32b"):
        s = p.scales[name]
        assert s.base.hf and s.reward_model.hf and all(t.hf for t in s.teachers.values())
        assert s.generation.backend == "vllm" and s.resources["generate"].gpu >= 1
    tiny = p.scales["tiny"]
    assert tiny.base.tiny is not None and len(tiny.teachers) >= 3
    assert all(r.gpu == 0 for r in tiny.resources.values())


def test_unknown_keys_rejected_at_any_depth(params):
    params["colour"] = 1
    assert reject(params) == "params.yaml: colour: unknown key"
    del params["colour"]
    params["scales"]["tiny"]["generation"]["temprature"] = 0.5
    assert "scales.tiny.generation.temprature: unknown key" in reject(params)


def test_language_without_family(params):
    del params["languages"]["fr"]["family"]
    assert "languages.fr.family: required key is missing" in reject(params)


def test_language_in_a_family_that_does_not_exist(params):
    params["languages"]["fr"]["family"] = "celtic"
    assert "languages.fr.family: 'celtic' is not in families" in reject(params)


def test_language_in_two_families(params):
    params["languages"]["fr"]["family"] = ["romance", "germanic"]
    assert "languages.fr.family: a language belongs to exactly one family, got 2" in reject(params)


def test_duplicate_key_in_yaml_is_rejected(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("seed: 1\nlanguages:\n  fr: {family: romance}\n  fr: {family: germanic}\n")
    with pytest.raises(ConfigError, match=r"params.yaml:4: duplicate key 'fr'"):
        load_yaml(f)


def test_unknown_language_code(params):
    params["languages"]["xx"] = dict(params["languages"]["fr"])
    assert "languages.xx: unknown language code" in reject(params)


def test_family_with_no_language(params):
    params["families"]["celtic"] = 1.0
    assert "families.celtic: no language belongs to this family" in reject(params)


@pytest.mark.parametrize(
    "ref, expect",
    [
        ("google/gemma-2-9b-it", "a model reference is a mapping"),
        ({"hf": "google/gemma-2-9b-it", "path": "/models/x"}, "exactly one of hf, path, tiny"),
        ({"revision": "main"}, "exactly one of hf, path, tiny (got none)"),
        ({"hf": "gemma-2-9b-it"}, "hf must be a hub ID 'owner/name'"),
        ({"hf": "google/gemma-2-9b-it", "trust_remote": True}, "unknown key"),
    ],
)
def test_teacher_reference_of_the_wrong_shape(params, ref, expect):
    params["scales"]["8b"]["teachers"]["gemma2_9b"] = ref
    msg = reject(params)
    assert "scales.8b.teachers.gemma2_9b" in msg and expect in msg


def test_base_reference_of_the_wrong_shape(params):
    params["scales"]["32b"]["base"] = {"model": "CohereLabs/x"}
    assert "scales.32b.base" in reject(params)


@pytest.mark.parametrize("weight", [0, -1.0])
def test_non_positive_family_weight(params, weight):
    params["families"]["romance"] = weight
    assert "families.romance: Input should be greater than 0" in reject(params)


def test_unknown_backend_arbiter_and_resource_class(params):
    params["scales"]["8b"]["generation"]["backend"] = "tgi"
    assert "scales.8b.generation.backend: unknown generation backend 'tgi'" in reject(params)
    params["scales"]["8b"]["generation"]["backend"] = "vllm"
    params["scales"]["8b"]["arbiter"]["method"] = "vibes"
    assert "unknown arbiter 'vibes'" in reject(params)
    params["scales"]["8b"]["arbiter"]["method"] = "combined"
    params["scales"]["8b"]["resources"]["genrate"] = {"gpu": 1}
    assert "scales.8b.resources.genrate: unknown resource class" in reject(params)


def test_tiny_model_needs_tiny_block_and_known_teacher_languages(params):
    del params["scales"]["tiny"]["tiny"]
    assert "scales.tiny.base: a tiny model needs the scale's `tiny:` block" in reject(params)


def test_tiny_teacher_language_must_be_known(params):
    params["scales"]["tiny"]["teachers"]["euro"]["tiny"]["languages"].append("xx")
    assert "scales.tiny.teachers.euro.tiny.languages: unknown language code 'xx'" in reject(params)


def _set(params, dotted: str, value):
    *parents, last = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[last] = value


INF, NAN = float("inf"), float("nan")


# Each value is accepted by a lax model and fails at run time (or runs something): refused when the
# workflow starts, naming the key.
@pytest.mark.parametrize(
    "key, value, expect",
    [
        # non-finite numbers (YAML .inf / .nan)
        ("scales.8b.sft.lr", INF, "scales.8b.sft.lr: Input should be a finite number"),
        ("scales.8b.sft.epochs", INF, "scales.8b.sft.epochs: Input should be a finite number"),
        ("scales.8b.online.dpo.beta", NAN, "scales.8b.online.dpo.beta: Input should be a finite number"),
        ("families.romance", INF, "families.romance: Input should be a finite number"),
        ("families.romance", NAN, "families.romance: Input should be a finite number"),
        (
            "scales.8b.arbiter.weights",
            {"reward_model": 1.0, "language_fidelity": INF},
            "scales.8b.arbiter.weights.language_fidelity: Input should be a finite number",
        ),
        ("scales.8b.generation.temperature", NAN, "scales.8b.generation.temperature: Input should be a finite number"),
        (
            "scales.8b.merge",
            {"method": "task_arithmetic", "params": {"lambda": INF}},
            "scales.8b.merge.params.lambda: Input should be a finite number",
        ),
        # booleans are YAML true/false only
        (
            "scales.8b.teachers.gemma2_9b",
            {"hf": "google/gemma-2-9b-it", "trust_remote_code": "yes"},
            "scales.8b.teachers.gemma2_9b.trust_remote_code: Input should be a valid boolean",
        ),
        (
            "scales.8b.base",
            {"hf": "CohereLabs/x", "trust_remote_code": 1},
            "scales.8b.base.trust_remote_code: Input should be a valid boolean",
        ),
        (
            "scales.8b.sft.gradient_checkpointing",
            "true",
            "scales.8b.sft.gradient_checkpointing: Input should be a valid boolean",
        ),
        (
            "scales.8b.merge",
            {"method": "linear", "params": {"normalize": "no"}},
            "scales.8b.merge.params.normalize: Input should be a valid boolean (true or false), got 'no'",
        ),
        (
            "scales.8b.eval.benchmarks.mgsm.apply_chat_template",
            "on",
            "apply_chat_template: Input should be a valid boolean",
        ),
        # integers are integers: not floats, not booleans
        ("scales.8b.sft.batch_size", 4.0, "scales.8b.sft.batch_size: Input should be a valid integer"),
        ("scales.8b.online.iterations", 3.0, "scales.8b.online.iterations: Input should be a valid integer"),
        (
            "scales.8b.resources.merge.mem_mb",
            1.0e6,
            "scales.8b.resources.merge.mem_mb: Input should be a valid integer",
        ),
        ("scales.8b.resources.merge.gpu", True, "scales.8b.resources.merge.gpu: Input should be a valid integer"),
        ("seed", 12.0, "seed: Input should be a valid integer"),
        ("scales.8b.sft.lr", True, "scales.8b.sft.lr: Input should be a number, got True"),
        # absurd values
        (
            "scales.32b.generation.max_new_tokens",
            10**9,
            "scales.32b.generation.max_new_tokens: Input should be less than or equal to 131072",
        ),
        (
            "scales.32b.generation.min_new_tokens",
            4096,
            "scales.32b.generation.min_new_tokens: 4096 is more than max_new_tokens (2048)",
        ),
        ("scales.32b.sft.epochs", 10**6, "scales.32b.sft.epochs: Input should be less than or equal to 1000"),
        ("scales.32b.sft.lr", 3.0, "scales.32b.sft.lr: Input should be less than 1"),
        ("scales.32b.sft.batch_size", 10**7, "scales.32b.sft.batch_size: Input should be less than or equal to 4096"),
        (
            "scales.32b.online.samples_per_prompt",
            100_000,
            "scales.32b.online.samples_per_prompt: Input should be less than or equal to 1024",
        ),
        (
            "scales.32b.online.iterations",
            1000,
            "scales.32b.online.iterations: Input should be less than or equal to 100",
        ),
        (
            "scales.32b.generation.batch_size",
            10**8,
            "scales.32b.generation.batch_size: Input should be less than or equal to 65536",
        ),
        (
            "scales.32b.eval.judge.max_new_tokens",
            10**7,
            "scales.32b.eval.judge.max_new_tokens: Input should be less than or equal to 131072",
        ),
        (
            "scales.32b.resources.sft.runtime",
            10**8,
            "scales.32b.resources.sft.runtime: Input should be less than or equal to 43200",
        ),
        ("seed", -1, "seed: Input should be greater than or equal to 0"),
        ("seed", 2**40, "seed: Input should be less than or equal to 2147483647"),
        # hub IDs, revisions and paths are names, not shell or path syntax
        (
            "scales.8b.teachers.gemma2_9b",
            {"hf": "goo..gle/gemma"},
            "scales.8b.teachers.gemma2_9b.hf: 'goo..gle/gemma' is not a hub ID",
        ),
        (
            "scales.8b.teachers.gemma2_9b",
            {"hf": "google/gemma;id"},
            "scales.8b.teachers.gemma2_9b.hf: 'google/gemma;id' is not a hub ID",
        ),
        ("scales.8b.teachers.gemma2_9b", {"hf": "-google/gemma"}, "is not a hub ID"),
        ("scales.8b.teachers.gemma2_9b", {"hf": "google/gemma-"}, "is not a hub ID"),
        ("scales.8b.teachers.gemma2_9b", {"hf": "google/"}, "is not a hub ID"),
        ("scales.8b.teachers.gemma2_9b", {"hf": "google/" + "g" * 97}, "is not a hub ID"),
        (
            "scales.8b.teachers.gemma2_9b",
            {"hf": "google/gemma", "revision": "--upload-pack=touch pwned"},
            "scales.8b.teachers.gemma2_9b.revision: '--upload-pack=touch pwned' is not a commit hash, tag or branch",
        ),
        (
            "scales.8b.teachers.gemma2_9b",
            {"hf": "google/gemma", "revision": "../../main"},
            "revision: '../../main' is not a commit hash",
        ),
        ("scales.8b.teachers.gemma2_9b", {"hf": "google/gemma", "revision": "/etc"}, "is not a commit hash"),
        ("scales.8b.teachers.gemma2_9b", {"hf": "google/gemma", "revision": "a" * 129}, "is not a commit hash"),
        (
            "scales.8b.teachers.gemma2_9b",
            {"path": "models/gemma-9b"},
            "scales.8b.teachers.gemma2_9b.path: directory 'models/gemma-9b' does not exist",
        ),
        (
            "scales.8b.teachers.gemma2_9b",
            {"path": "/models/$(id)"},
            "scales.8b.teachers.gemma2_9b.path: '/models/$(id)' is not a plain path",
        ),
        ("scales.8b.teachers.gemma2_9b", {"path": "results/../../x"}, "is not a plain path"),
        (
            "languages.fr.prompts",
            "data/prompts/fr.jsonl; rm -rf ~",
            "languages.fr.prompts: 'data/prompts/fr.jsonl; rm -rf ~' is not a plain path",
        ),
        (
            "scales.8b.eval.benchmarks.mgsm.tasks",
            "../../etc/{lang}",
            "scales.8b.eval.benchmarks.mgsm.tasks: tasks is an lm-eval task name",
        ),
    ],
)
def test_hostile_values_are_refused_naming_the_key(params, key, value, expect):
    _set(params, key, value)
    assert expect in reject(params)


def test_what_the_strict_types_still_accept(params, tmp_path):
    """ints where floats go, numbers YAML 1.1 reads as strings (1e-5), the hub's and git's names, a
    directory that exists or that a rule builds."""
    _set(params, "scales.8b.sft.epochs", 3)
    _set(params, "scales.8b.sft.lr", "1e-5")
    _set(params, "families.romance", 2)
    (tmp_path / "judge").mkdir()
    _set(
        params,
        "scales.8b.teachers.gemma2_9b",
        {"hf": "google/gemma-2_9b.it", "revision": "refs/pr/12", "trust_remote_code": True},
    )
    _set(params, "scales.8b.teachers.qwen25_7b", {"path": str(tmp_path / "judge")})
    _set(params, "scales.8b.teachers.llama31_8b", {"path": "results/8b/models/base"})
    p = validate(params)
    s = p.scales["8b"]
    assert s.sft.epochs == 3.0 and s.sft.lr == 1e-5 and p.families["romance"] == 2.0
    assert s.teachers["gemma2_9b"].trust_remote_code is True and s.teachers["gemma2_9b"].revision == "refs/pr/12"


def test_relative_model_paths_are_checked_against_the_params_directory(params, tmp_path):
    import yaml

    (tmp_path / "models" / "judge").mkdir(parents=True)
    (tmp_path / "data" / "eval").mkdir(parents=True)
    for b in params["scales"]["tiny"]["eval"]["benchmarks"].values():
        b.pop("include_path")  # the tiny task folder is the repository's, not tmp_path's
    params["scales"]["8b"]["eval"]["judge"]["model"] = {"path": "models/judge"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert load_params(tmp_path / "params.yaml").scales["8b"].eval.judge.model.path == "models/judge"
    params["scales"]["8b"]["eval"]["judge"]["model"] = {"path": "models/jduge"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(
        ConfigError,
        match=r"scales\.8b\.eval\.judge\.model\.path: directory 'models/jduge' does "
        r"not exist",
    ):
        load_params(tmp_path / "params.yaml")


def _two_families(params):
    for lang in params["languages"].values():
        lang["family"] = "germanic" if lang["family"] == "germanic" else "romance"
    params["families"] = {"germanic": 1.0, "romance": 1.0}


def test_slerp_needs_exactly_two_families(params):
    params["scales"]["8b"]["merge"]["method"] = "slerp"
    assert reject(params) == (
        "params.yaml: scales.8b.merge.method: slerp merges exactly 2 models and there are 5 "
        "families (germanic, romance, slavic_greek, semitic_turkic_iranian, asian); use linear "
        "or a task-vector method"
    )
    _two_families(params)
    assert validate(params).scales["8b"].merge.method == "slerp"


def test_per_family_density_needs_one_value_per_family(params):
    params["scales"]["8b"]["merge"] = {"method": "ties", "params": {"density": [0.5, 0.5]}}
    assert "scales.8b.merge.params.density: 2 values for 5 families" in reject(params)
    _two_families(params)
    assert validate(params).scales["8b"].merge.params["density"] == [0.5, 0.5]
