"""The names of what a run logs: the contract of `metrics.jsonl` and `summary.json`.

`metrics.jsonl` holds one JSON object per line. A training record has `step` and the statistics of
that step's phase, averaged over the processes under torchrun; every `eval.every` steps (and at the
end of each phase) it also carries the game's evaluation metrics and D's over-fitting probe. The
live doctor adds its own records (a `doctor_finding` or a `doctor_action`), which carry no training
statistics. `summary.json` holds the last evaluation's metrics and the keys of `SUMMARY_KEYS`.
The trainer, the doctor, the report and the plots read and write these keys through the constants
below, so a name is spelled once; the README's "What a run folder holds" lists them with their units.
"""

from __future__ import annotations

STEP = "step"  # the step counter, through every phase (MLE pre-training, D pre-training, adversarial)
STEP_TIME_S = "step_time_s"  # wall seconds of the step
NON_FINITE = "non_finite"  # the names of the record's values that were NaN/inf (written as null)

# generator MLE pre-training
MLE_LOSS = "mle_loss"  # nats per token
LR_PRETRAIN = "lr_pretrain"

# the discriminator's step
D_LOSS = "d_loss"
D_REAL, D_FAKE = "d_real", "d_fake"  # D's mean logit on the reals and on the fakes it trained on
D_ACC_REAL, D_ACC_FAKE = "d_acc_real", "d_acc_fake"  # fraction of reals with logit > 0, of fakes < 0
RT = "rt"  # ADA's r_t: the mean sign of D's logits on the reals it trained on
GRAD_NORM_D = "grad_norm_d"  # D's global gradient norm before clipping
GP, R1 = "gp", "r1"  # the penalties' values (before their weights)
INSTANCE_NOISE = "instance_noise"  # the std of the noise on D's inputs at this step
LR_D = "lr_d"

# the generator's adversarial step (and its MLE step: GRAD_NORM_G)
G_LOSS = "g_loss"
GRAD_NORM_G = "grad_norm_g"
LR_G = "lr_g"

# D's over-fitting probe, at logged steps: D in eval mode on a fixed slice of training reals and on
# held-out reals it never trains on
D_TRAIN_SLICE, D_HELDOUT = "d_train_slice", "d_heldout"
RT_TRAIN_SLICE, RT_HELDOUT = "rt_train_slice", "rt_heldout"

# the live doctor's records
DOCTOR_ACTION, DOCTOR_FINDING = "doctor_action", "doctor_finding"
DOCTOR_KEYS = (DOCTOR_ACTION, DOCTOR_FINDING)
PITFALL, SEVERITY, EVIDENCE, REMEDY, DETAIL, CHANGES = ("pitfall", "severity", "evidence", "remedy",
                                                        "detail", "changes")

# summary.json, beside the last evaluation's metrics (and `best_<eval.metric>` when one is watched)
WALL_TIME_S = "wall_time_s"  # training time, without the time spent before a resume
STEPS = "steps"  # the last step trained
BEST_STEP = "best_step"  # the step of best.pt
SUMMARY_KEYS = (WALL_TIME_S, STEPS, BEST_STEP)

# the loss and gradient statistics of each network, by the name used in messages
LOSS_KEYS = {"discriminator": (D_LOSS, GRAD_NORM_D), "generator": (G_LOSS, GRAD_NORM_G),
             "generator (MLE)": (MLE_LOSS, GRAD_NORM_G)}


def best_key(metric: str) -> str:
    """summary.json's key for the best value of the watched evaluation metric."""
    return f"best_{metric}"
