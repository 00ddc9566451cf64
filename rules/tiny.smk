# The tiny scale's models, built here with no hub: corpus -> tokenizer -> base -> teachers and the
# reward model; plus two measurements (teachers' held-out loss, arbiters' pairwise accuracy).


rule build_corpus:
    output:
        corpus=L.CORPUS,
    log:
        "logs/{scale}/build_corpus.log",
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/build_corpus.py"),
        codes=get_language_codes,
        seed=get_seed,
        corpus=get_tiny_build("corpus"),
    script:
        "../scripts/build_corpus.py"


rule train_tokenizer:
    input:
        corpus=L.CORPUS,
    output:
        tokenizer=directory(L.TOKENIZER),
    log:
        "logs/{scale}/train_tokenizer.log",
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/train_tokenizer.py"),
        tokenizer=get_tiny_build("tokenizer"),
    script:
        "../scripts/train_tokenizer.py"


rule pretrain_base:
    input:
        corpus=L.CORPUS,
        tokenizer=L.TOKENIZER,
    output:
        model=directory(L.BASE_MODEL),
    log:
        "logs/{scale}/pretrain_base.log",
    benchmark:
        "benchmarks/{scale}/pretrain_base.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/pretrain_base.py"),
        spec=get_tiny_spec("base"),
        codes=get_language_codes,
        seed=get_seed,
    script:
        "../scripts/pretrain_base.py"


rule pretrain_teacher:
    input:
        corpus=L.CORPUS,
        tokenizer=L.TOKENIZER,
        init=from_params(ws.teacher_init_inputs, "teacher"),
    output:
        model=directory(L.TEACHER_MODEL),
    log:
        "logs/{scale}/pretrain_teacher/{teacher}.log",
    benchmark:
        "benchmarks/{scale}/pretrain_teacher/{teacher}.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/pretrain_teacher.py"),
        spec=get_tiny_spec("teacher"),
        codes=get_language_codes,
        seed=get_seed,
    script:
        "../scripts/pretrain_teacher.py"


rule train_reward_model:
    input:
        corpus=L.CORPUS,
        init=L.BASE_MODEL,
    output:
        model=directory(L.REWARD_MODEL),
    log:
        "logs/{scale}/train_reward_model.log",
    benchmark:
        "benchmarks/{scale}/train_reward_model.tsv"
    priority: CRITICAL
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/train_reward_model.py"),
        spec=get_tiny_spec("reward_model"),
        corpus=get_tiny_build("corpus"),
        codes=get_language_codes,
        seed=get_seed,
    script:
        "../scripts/train_reward_model.py"


rule measure_teacher_loss:
    input:
        corpus=L.CORPUS,
        tokenizer=L.TOKENIZER,
        base=L.BASE_MODEL,
        teachers=from_params(ws.tiny_teacher_dirs),
    output:
        json=L.TEACHER_HELDOUT_LOSS,
    log:
        "logs/{scale}/measure_teacher_loss.log",
    conda:
        "../envs/train.yaml"
    threads: threads_for("tiny")
    resources:
        **resources_for("tiny"),
    params:
        code=code_fingerprint("../scripts/measure_teacher_loss.py"),
        codes=get_language_codes,
        spec=get_tiny_spec("base"),
        seed=get_seed,
    script:
        "../scripts/measure_teacher_loss.py"


rule measure_arbiter_accuracy:
    input:
        corpus=L.CORPUS,
        reward_model=L.REWARD_MODEL,
    output:
        json=L.ARBITER_ACCURACY,
    log:
        "logs/{scale}/measure_arbiter_accuracy.log",
    conda:
        "../envs/train.yaml"
    threads: threads_for("score")
    resources:
        **resources_for("score"),
    params:
        code=code_fingerprint("../scripts/measure_arbiter_accuracy.py"),
        arbiter=scale_value("arbiter"),
        corpus=get_tiny_build("corpus"),
        codes=get_language_codes,
        seed=get_seed,
    script:
        "../scripts/measure_arbiter_accuracy.py"
