"""Training params: their validation, and what rules/common.smk derives from them."""

from test_config import reject

from expanse import workflow_support as ws
from expanse.config import validate


def test_shipped_training_sections(shipped_params):
    p = validate(shipped_params)
    tiny = p.scales["tiny"]
    assert tiny.sft.precision == tiny.dpo.precision == tiny.online.dpo.precision == "fp32"  # CPU
    assert tiny.online.iterations == 3 and tiny.online.samples_per_prompt >= 2
    for name in ("8b", "32b"):
        s = p.scales[name]
        assert s.sft.precision == "bf16" and s.sft.gradient_checkpointing
        assert s.resources["sft"].gpu >= 8 and s.resources["dpo"].gpu >= 8
    big = p.scales["32b"].resources["sft"]
    assert (big.nodes, big.gpu, big.gpu_model) == (2, 16, "h100")  # 2 nodes x 8 H100


def test_bad_training_values_name_their_key(params):
    params["scales"]["32b"]["resources"]["sft"]["gpu"] = 12
    params["scales"]["32b"]["resources"]["sft"]["nodes"] = 5
    assert "scales.32b.resources.sft.gpu: 12 GPUs cannot be spread evenly over 5 nodes" in reject(params)
    params["scales"]["32b"]["resources"]["sft"]["nodes"] = 2
    params["scales"]["tiny"]["online"]["samples_per_prompt"] = 1
    assert "scales.tiny.online.samples_per_prompt" in reject(params)
    params["scales"]["tiny"]["online"]["samples_per_prompt"] = 4
    params["scales"]["tiny"]["dpo"]["loss_type"] = "magic"
    assert "scales.tiny.dpo.loss_type" in reject(params)
    params["scales"]["tiny"]["dpo"]["loss_type"] = "sigmoid"
    params["scales"]["tiny"]["sft"]["lora"] = {"rank": 8}
    assert "scales.tiny.sft.lora.rank: unknown key" in reject(params)
    params["scales"]["tiny"]["sft"]["lora"] = {"r": 8}
    params["scales"]["tiny"]["online"]["dpo"]["precision"] = "bf16"
    assert "scales.tiny.online.dpo.precision: bf16 training needs a GPU" in reject(params)
    params["scales"]["tiny"]["online"]["dpo"]["precision"] = "fp32"
    params["scales"]["tiny"]["launch"] = {"strategy": "horovod"}
    assert "scales.tiny.launch.strategy" in reject(params)


def test_online_chain_and_targets(shipped_params):
    p = validate(shipped_params)
    assert ws.policy_dir(p, "tiny", "romance", "1") == "results/tiny/checkpoints/romance/dpo"
    assert ws.policy_dir(p, "tiny", "romance", 3) == "results/tiny/checkpoints/romance/online_it2"
    targets = ws.training_targets(p, "tiny")
    assert "results/tiny/checkpoints/romance/online_it3" in targets
    assert len([t for t in targets if t.endswith("online_it3")]) == len(p.families)
    s = ws.sampling(p, "tiny")
    assert s["temperature"] == p.scales["tiny"].online.temperature > 0
    assert s["max_new_tokens"] == p.scales["tiny"].generation.max_new_tokens
    assert ws.online_seed(p, "tiny", 1) != ws.online_seed(p, "tiny", 2)


def test_checkpoints_load_safetensors_and_remote_code_only_by_opt_in(params):
    p = validate(params)
    assert ws.checkpoint_ref(p, "8b", "x")["load"] == {"use_safetensors": True, "trust_remote_code": False}
    params["scales"]["8b"]["base"]["trust_remote_code"] = True
    assert ws.checkpoint_ref(validate(params), "8b", "x")["load"]["trust_remote_code"] is True


def test_merge_after_earlier_stages_moves_where_the_next_stage_starts(params):
    p = validate(params)
    assert ws.stage_start(p, "tiny", "romance", "dpo") == "results/tiny/checkpoints/romance/sft"
    assert ws.merged_targets(p, "tiny") == ["results/tiny/merged"]
    assert ws.stage_checkpoints(p, "tiny", "online") == [f"results/tiny/checkpoints/{f}/online_it3" for f in p.families]
    params["scales"]["tiny"]["merge"]["after"] = ["sft", "dpo", "online"]
    p = validate(params)
    assert ws.stage_start(p, "tiny", "romance", "dpo") == "results/tiny/merges/sft"
    assert ws.stage_start(p, "tiny", "romance", "online") == "results/tiny/merges/dpo"
    assert ws.policy_dir(p, "tiny", "romance", 1) == "results/tiny/merges/dpo"
    assert ws.policy_dir(p, "tiny", "romance", 2) == "results/tiny/checkpoints/romance/online_it1"


def test_bad_merge_settings_name_their_key(params):
    params["scales"]["tiny"]["merge"]["method"] = "average"
    assert "scales.tiny.merge.method: unknown merge method 'average'" in reject(params)
    params["scales"]["tiny"]["merge"] = {"method": "ties", "params": {"densty": 0.5}}
    assert "scales.tiny.merge.method: ties: parameter densty: unknown parameter" in reject(params)
    params["scales"]["tiny"]["merge"] = {"method": "linear", "after": ["sft"]}
    assert "scales.tiny.merge.after: the merged model is made after the last stage" in reject(params)
    params["scales"]["tiny"]["merge"] = {"method": "linear", "after": ["online", "sft"]}
    assert "scales.tiny.merge.after: list stages once each, in training order" in reject(params)
    params["scales"]["tiny"]["merge"] = {"method": "linear"}
    params["families"]["romance"] = 0
    assert "families.romance" in reject(params)
