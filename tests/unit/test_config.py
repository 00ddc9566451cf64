"""Config validation: the shipped params load, and each kind of mistake is one line naming the key."""

import pytest

from expanse.config import load_params, load_yaml, validate
from expanse.errors import ConfigError
from expanse.languages import LANGUAGES

from conftest import REPO


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


@pytest.mark.parametrize("ref, expect", [
    ("google/gemma-2-9b-it", "a model reference is a mapping"),
    ({"hf": "google/gemma-2-9b-it", "path": "/models/x"}, "exactly one of hf, path, tiny"),
    ({"revision": "main"}, "exactly one of hf, path, tiny (got none)"),
    ({"hf": "gemma-2-9b-it"}, "hf must be a hub ID 'owner/name'"),
    ({"hf": "google/gemma-2-9b-it", "trust_remote": True}, "unknown key"),
])
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
