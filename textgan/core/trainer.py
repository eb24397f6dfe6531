"""The one adversarial training loop, shared by every game.

One iteration = `n_critic` discriminator steps, then `g_steps` generator steps. Before it, a run may
pre-train: generator MLE steps (`train.pretrain_steps`, the game's `pretrain_loss`, optimiser
`optim_pretrain`), then discriminator steps on real versus generated data (`train.pretrain_d_steps`);
one step counter runs through all phases, so checkpoints and resume need nothing special. Around
that loop the trainer owns what every GAN needs: optimisers and LR schedules (TTUR through separate configs),
losses and D regularisers, gradient clipping, EMA of G, evaluation, best checkpoint and early
stopping, atomic checkpoints that resume bit-for-bit, and the logged signals the doctor reads.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from textgan.config import Recipe
from textgan.core import distributed as dist
from textgan.core import regularizers as reg
from textgan.core.checkpoint import (
    first_difference,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from textgan.core.doctor_live import LiveDoctor, non_finite_tensors
from textgan.core.ema import EMA
from textgan.core.game import Game
from textgan.core.logging import MetricsLog, truncate_metrics, write_summary
from textgan.core.losses import d_accuracy, get_loss
from textgan.core.optim import build_optimizer, build_scheduler, clip_and_measure
from textgan.errors import UserError


class TrainingDiverged(UserError):
    """A loss or gradient became NaN/inf; the last good checkpoint is kept untouched. `values` holds the
    offending numbers by their metrics.jsonl names (logged as the doctor's evidence)."""

    def __init__(self, message: str, values: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.values = values or {}


class RunInterrupted(Exception):
    """SIGINT or SIGTERM stopped the run at the end of a step, after `checkpoints/last.pt` was saved."""

    def __init__(self, step: int, signal_name: str) -> None:
        super().__init__(f"{signal_name} at step {step}")
        self.step, self.signal_name = step, signal_name


@contextlib.contextmanager
def _stop_requests() -> Iterator[dict[str, str | None]]:
    """While training, SIGINT/SIGTERM ask the loop to stop after the current step (a second one stops at
    once); yields a dict whose "signal" names the request. Handlers are restored afterwards, and left
    alone outside the main thread, where Python cannot install them."""
    request: dict[str, str | None] = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def ask(signum: int, _frame: object) -> None:
        if request["signal"] is not None:
            raise KeyboardInterrupt
        request["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def compile_network(net: nn.Module) -> None:
    """`torch.compile` the methods the network lists in `compiled_methods` (default `forward`; a text
    generator lists its teacher-forced features and per-token step), in place as instance attributes:
    parameters and state-dict keys stay as they are, so checkpoints move freely between compiled and
    eager runs. Not `nn.Module.compile`: in torch 2.13 dynamo skips that top frame for torch.nn
    classes such as the toy games' `nn.Sequential`, which stayed eager (checked)."""
    for name in getattr(net, "compiled_methods", ("forward",)):
        setattr(net, name, torch.compile(getattr(net, name)))


class Trainer:
    """Runs a recipe's game and writes the run folder (metrics, checkpoints, samples, summary)."""

    def __init__(self, recipe: Recipe, game: Game, out_dir: Path, device: torch.device) -> None:
        self.recipe = recipe
        self.game = game
        self.out_dir = Path(out_dir)
        self.device = device
        self.cfg = recipe.train
        self.loss = get_loss(recipe.loss.name)
        self.gp_weight = recipe.loss.effective_gp_weight
        metric, reported = recipe.eval.metric, game.metric_names()
        if metric and reported is not None and metric not in reported:
            raise UserError(f"eval.metric {metric!r} is not computed by this game with this recipe; it reports "
                            f"{sorted(reported)}{game.metric_hint(metric)}")

        G, D = game.generator, game.discriminator
        reg.init_weights(G, self.cfg.init)
        reg.init_weights(D, self.cfg.init)
        if self.cfg.spectral_norm:
            reg.apply_spectral_norm(D)
        G.to(device)
        D.to(device)
        dist.broadcast_module(G)
        dist.broadcast_module(D)
        self.batch_size = dist.local_batch_size(self.cfg.batch_size)  # this process's share of the batch
        self.opt_g = build_optimizer(G.parameters(), recipe.optim_g)
        self.opt_d = build_optimizer(D.parameters(), recipe.optim_d)
        self.sched_g = build_scheduler(self.opt_g, recipe.optim_g, self.cfg.steps)
        self.sched_d = build_scheduler(self.opt_d, recipe.optim_d, self.cfg.steps)
        if self.cfg.pretrain_steps and type(game).pretrain_loss is Game.pretrain_loss:
            Game.pretrain_loss(game, self.cfg.batch_size)  # raises: this game has no pre-training
        self.opt_pretrain = build_optimizer(G.parameters(), recipe.optim_pretrain)
        self.sched_pretrain = build_scheduler(self.opt_pretrain, recipe.optim_pretrain, self.cfg.pretrain_steps)
        self.ema = EMA(G, self.cfg.ema_decay, self.cfg.ema_start) if self.cfg.ema_decay else None
        if self.cfg.compile:  # after the EMA's deep copy, which stays eager
            compile_network(G)
            if self._d_needs_double_backward(recipe):
                if dist.is_main():
                    print("note: train.compile leaves D eager: the gradient penalty / R1 (which the doctor in auto "
                          "mode may switch on) differentiates through D's input gradients, which compiled code "
                          "cannot (torch.compile has no double backward)", file=sys.stderr)
            else:
                compile_network(D)

        self.step = 0
        self.wall_time = 0.0
        self.best_value: float | None = None
        self.best_step = -1
        self.bad_evals = 0
        self.last_eval: dict[str, float] = {}
        if recipe.doctor.mode == "auto" and dist.world_size() > 1:
            raise UserError("doctor.mode auto (rollbacks, live remedies) runs in a single process; use warn under torchrun")
        self.doctor = LiveDoctor(self) if recipe.doctor.mode != "off" and dist.is_main() else None
        self._seed_rank()

    @staticmethod
    def _d_needs_double_backward(recipe: Recipe) -> bool:
        return bool(recipe.loss.effective_gp_weight or recipe.loss.r1_weight or recipe.doctor.mode == "auto")

    def _seed_rank(self) -> None:
        """Under torchrun, give each rank its own noise stream (a function of seed, step and rank)."""
        if dist.world_size() > 1:
            torch.manual_seed(self.recipe.seed * 1_000_003 + self.step * 1009 + dist.rank())

    # ----------------------------------------------------------------- checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def signature(self) -> dict[str, Any]:
        """A checkpoint resumes only into the same game, data, model shapes and phase lengths (another
        pretrain_steps would put its steps in another phase)."""
        r = self.recipe
        return {
            "game": r.game,
            "phases": {"pretrain_steps": self.cfg.pretrain_steps, "pretrain_d_steps": self.cfg.pretrain_d_steps},
            "model": r.to_dict()["model"],
            "spectral_norm": self.cfg.spectral_norm,
            "ema": bool(self.cfg.ema_decay),
            "game_signature": self.game.signature(),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "generator": self.game.generator.state_dict(),
            "discriminator": self.game.discriminator.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "opt_pretrain": self.opt_pretrain.state_dict(),
            "sched_pretrain": self.sched_pretrain.state_dict(),
            "game": self.game.state_dict(),
            "rng": rng_state(),
            "doctor": self.doctor.state_dict() if self.doctor else None,
            "trainer": {
                "wall_time": self.wall_time,
                "best_value": self.best_value,
                "best_step": self.best_step,
                "bad_evals": self.bad_evals,
                "last_eval": dict(self.last_eval),
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.game.generator.load_state_dict(state["generator"])
        self.game.discriminator.load_state_dict(state["discriminator"])
        if self.ema:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.opt_pretrain.load_state_dict(state["opt_pretrain"])
        self.sched_pretrain.load_state_dict(state["sched_pretrain"])
        self.game.load_state_dict(state["game"])
        set_rng_state(state["rng"])
        t = state["trainer"]
        self.wall_time = t["wall_time"]
        self.best_value, self.best_step, self.bad_evals = t["best_value"], t["best_step"], t["bad_evals"]
        self.last_eval = dict(t["last_eval"])
        if self.doctor and state.get("doctor"):
            self.doctor.load_state_dict(state["doctor"])

    def save(self, name: str) -> None:
        if not dist.is_main():
            return
        state = self.state_dict()
        bad = non_finite_tensors(state)
        if bad:  # never replace a good checkpoint by a broken one
            raise TrainingDiverged(f"refusing to save {name} at step {self.step}: non-finite weights in "
                                   f"{', '.join(bad[:3])}; {self._kept_checkpoint()}")
        save_checkpoint(self.checkpoint_dir / name, state, self.signature())

    def resume(self) -> None:
        """Continue from `checkpoints/last.pt`; the metrics log is cut back to that step."""
        path = self.checkpoint_dir / "last.pt"
        state = load_checkpoint(path)
        saved = json.loads(state["signature"])
        wanted = json.loads(json.dumps(self.signature(), sort_keys=True))
        if "phases" not in saved:  # written before the phases were part of the signature
            del wanted["phases"]
        if saved != wanted:
            raise UserError(f"checkpoint {path} comes from an incompatible run: {first_difference(saved, wanted)}")
        try:
            self.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise UserError(f"checkpoint does not fit this recipe: {str(exc).splitlines()[0]}") from None
        self._seed_rank()
        if dist.is_main():
            truncate_metrics(self.out_dir / "metrics.jsonl", self.step)

    def init_generator_from(self, source: str | Path) -> int:
        """Start from another run's generator (and its EMA, else its generator as the EMA): the same
        game and data (vocabulary, sequence length, oracle) and the same generator shape, or a
        `UserError`. Returns the step the source had reached."""
        path = Path(source)
        if path.is_dir():
            path = path / "checkpoints" / "last.pt"
        state = load_checkpoint(path)
        saved = json.loads(state["signature"])
        wanted = json.loads(json.dumps(self.signature(), sort_keys=True))
        if saved.get("game") != wanted["game"]:
            raise UserError(f"--init-from {path}: another game ({saved.get('game')}, this recipe {wanted['game']})")
        theirs_data, mine_data = saved.get("game_signature", {}), wanted["game_signature"]
        for key in sorted(set(theirs_data) | set(mine_data), key=lambda k: (k not in ("vocab_size", "seq_len"), k)):
            if theirs_data.get(key) != mine_data.get(key):  # the sizes first: they say the most
                raise UserError(f"--init-from {path}: other data: "
                                f"{first_difference(theirs_data.get(key), mine_data.get(key), key)}")
        G = self.game.generator
        mine = G.state_dict()
        theirs = state["generator"]
        if theirs.keys() != mine.keys():
            extra = sorted(set(theirs) ^ set(mine))[:2]
            raise UserError(f"--init-from {path}: another generator (parameters {', '.join(extra)} are in one only)")
        for key, value in theirs.items():
            if value.shape != mine[key].shape:
                raise UserError(f"--init-from {path}: generator parameter {key} has shape {tuple(value.shape)} there "
                                f"but {tuple(mine[key].shape)} in this recipe")
        G.load_state_dict(theirs)
        if self.ema:
            self.ema.load_state_dict(state["ema"] if state.get("ema") else theirs)
        return int(state["step"])

    # ----------------------------------------------------------------- one iteration
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _mle_step(self) -> dict[str, float]:
        G = self.game.generator
        self.opt_pretrain.zero_grad(set_to_none=True)
        for _ in range(self.cfg.accumulate):
            with self._autocast():
                loss = self.game.pretrain_loss(self.batch_size)
            (loss / self.cfg.accumulate).backward()
        dist.average_gradients(G)
        grad_norm = clip_and_measure(G, self.recipe.optim_pretrain)
        self._check_finite(loss, grad_norm, "generator (MLE)")
        self.opt_pretrain.step()
        self.sched_pretrain.step()
        if self.ema:
            self.ema.update(G, self.step)
        return {"mle_loss": loss.item(), "grad_norm_g": grad_norm, "lr_pretrain": self.opt_pretrain.param_groups[0]["lr"]}

    def _adversarial_step(self) -> dict[str, float]:
        """One iteration: the game's per-step hook, n_critic D steps, g_steps G steps, LR schedules."""
        cfg = self.cfg
        record = dict(self.game.on_step(self.step - cfg.adversarial_start, cfg.steps))
        for _ in range(cfg.n_critic):
            record.update(self._d_step())
        for _ in range(cfg.g_steps):
            record.update(self._g_step())
        self.sched_g.step()
        self.sched_d.step()
        record.update(lr_g=self.opt_g.param_groups[0]["lr"], lr_d=self.opt_d.param_groups[0]["lr"])
        return record

    def _phase_step(self) -> dict[str, float]:
        """Run the current step of whichever phase it belongs to."""
        if self.step <= self.cfg.pretrain_steps:
            return self._mle_step()
        if self.step <= self.cfg.adversarial_start:
            return self._d_step()
        return self._adversarial_step()

    @property
    def _final_phase_start(self) -> int:
        """Early stopping ends the run only in its last phase; before that, evaluations keep best.pt."""
        cfg = self.cfg
        if cfg.steps:
            return cfg.adversarial_start
        return cfg.pretrain_steps if cfg.pretrain_d_steps else 0

    def _d_step(self) -> dict[str, float]:
        game, D, lcfg = self.game, self.game.discriminator, self.recipe.loss
        noise = reg.instance_noise_std(lcfg.instance_noise, lcfg.instance_noise_anneal_steps, self.step)
        self.opt_d.zero_grad(set_to_none=True)
        stats: dict[str, float] = {}
        for _ in range(self.cfg.accumulate):
            real = game.real_batch()
            with torch.no_grad():
                fake = game.fake_batch(self.batch_size)
            if noise:
                real, fake = game.add_instance_noise(real, noise), game.add_instance_noise(fake, noise)
            with self._autocast():
                d_real, d_fake = game.discriminate(real), game.discriminate(fake)
                loss = self.loss.d_loss(d_real.float(), d_fake.float(), lcfg.label_smoothing)
                if self.gp_weight:
                    gp = reg.gradient_penalty(game.discriminate, real, fake)
                    loss = loss + self.gp_weight * gp
                    stats["gp"] = gp.item()
                if lcfg.r1_weight:
                    r1 = reg.r1_penalty(game.discriminate, real)
                    loss = loss + 0.5 * lcfg.r1_weight * r1
                    stats["r1"] = r1.item()
            (loss / self.cfg.accumulate).backward()
        dist.average_gradients(D)
        stats["grad_norm_d"] = clip_and_measure(D, self.recipe.optim_d)
        self._check_finite(loss, stats["grad_norm_d"], "discriminator")
        self.opt_d.step()
        if self.loss.weight_clip:
            reg.clip_weights(D, lcfg.wgan_clip)
        stats.update(game.after_d_step(d_real.detach(), d_fake.detach()))
        acc_real, acc_fake = d_accuracy(d_real, d_fake)
        stats.update(
            d_loss=loss.item(),
            d_real=d_real.mean().item(),
            d_fake=d_fake.mean().item(),
            d_acc_real=acc_real,
            d_acc_fake=acc_fake,
            rt=torch.sign(d_real).mean().item(),
        )
        if noise:
            stats["instance_noise"] = noise
        return stats

    def _g_step(self) -> dict[str, float]:
        G, D = self.game.generator, self.game.discriminator
        self.opt_g.zero_grad(set_to_none=True)
        extra: dict[str, float] = {}
        D.requires_grad_(False)  # gradients flow through D into G, but D's own are not needed
        try:
            for _ in range(self.cfg.accumulate):
                with self._autocast():
                    loss, extra = self.game.generator_loss(self.loss, self.batch_size)
                (loss / self.cfg.accumulate).backward()
        finally:
            D.requires_grad_(True)
        dist.average_gradients(G)
        grad_norm = clip_and_measure(G, self.recipe.optim_g)
        self._check_finite(loss, grad_norm, "generator")
        self.opt_g.step()
        if self.ema:
            self.ema.update(G, self.step)
        return {"g_loss": loss.item(), "grad_norm_g": grad_norm, **extra}

    def _check_finite(self, loss: Tensor, grad_norm: float, network: str) -> None:
        if not (torch.isfinite(loss).item() and math.isfinite(grad_norm)):
            loss_key, norm_key = {"discriminator": ("d_loss", "grad_norm_d"), "generator": ("g_loss", "grad_norm_g"),
                                  "generator (MLE)": ("mle_loss", "grad_norm_g")}[network]
            raise TrainingDiverged(
                f"training diverged at step {self.step}: the {network}'s loss or gradient is not finite "
                f"(loss {loss.item():.4g}, grad norm {grad_norm:.4g}); {self._kept_checkpoint()}. Lower the "
                "learning rate or set optim_*.clip_norm",
                {loss_key: loss.item(), norm_key: grad_norm},
            )

    def _kept_checkpoint(self) -> str:
        last = self.checkpoint_dir / "last.pt"
        if last.is_file():
            return f"the last good checkpoint, {last}, is kept"
        return "no checkpoint had been saved yet (the run starts over when run again)"

    def _recover(self, exc: TrainingDiverged, log: MetricsLog | None) -> bool:
        """Log the non-finite values (the doctor's evidence); True when the live doctor rolled back."""
        if log is None:
            return False
        log.write({"step": self.step, **exc.values})
        return self.doctor is not None and self.doctor.recover(exc.values, str(exc), log)

    @torch.no_grad()
    def _probe_d(self) -> dict[str, float]:
        """D (in eval mode) on a fixed slice of training reals and on held-out reals: the gap between
        the two is the over-fitting signal (ADA's r_t uses the sign of the training outputs)."""
        D = self.game.discriminator
        was_training = D.training
        D.eval()
        train = self.game.discriminate(self.game.train_slice())
        held = self.game.discriminate(self.game.heldout_slice())
        D.train(was_training)
        return {
            "d_train_slice": train.mean().item(),
            "d_heldout": held.mean().item(),
            "rt_train_slice": torch.sign(train).mean().item(),
            "rt_heldout": torch.sign(held).mean().item(),
        }

    # ----------------------------------------------------------------- evaluation
    @property
    def eval_generator(self) -> torch.nn.Module:
        return self.ema.module if self.ema else self.game.generator

    def evaluate(self) -> dict[str, float]:
        """Run the game's metrics with a seed of their own, so evaluation never shifts training RNG."""
        G = self.eval_generator
        was_training = G.training
        G.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(self.recipe.seed * 7919 + self.step)
            metrics = self.game.evaluate(G, self.step, self.out_dir / "samples")
        G.train(was_training)
        self.last_eval = {k: float(v) for k, v in metrics.items()}
        return self.last_eval

    def _track_best(self, metrics: dict[str, float]) -> bool:
        """Keep `best.pt` for the watched metric; True when early stopping should end the run."""
        ecfg = self.recipe.eval
        if not ecfg.metric:
            return False
        if ecfg.metric not in metrics:
            raise UserError(f"eval.metric {ecfg.metric!r} is not computed by this game; it reports {sorted(metrics)}")
        value = metrics[ecfg.metric]
        better = self.best_value is None or (value > self.best_value if ecfg.mode == "max" else value < self.best_value)
        if better:
            self.best_value, self.best_step, self.bad_evals = value, self.step, 0
            self.save("best.pt")
        elif self.step > self._final_phase_start:
            self.bad_evals += 1
        return bool(ecfg.patience) and self.bad_evals >= ecfg.patience

    # ----------------------------------------------------------------- the loop
    def fit(self) -> dict[str, float]:
        """Train through every phase (or until early stopping) and return the summary written to
        summary.json. Evaluation runs every `eval.every` steps and at the end of each phase."""
        cfg = self.cfg
        total = cfg.total_steps
        phase_ends = {cfg.pretrain_steps, cfg.adversarial_start, total} - {0}
        main = dist.is_main()  # under torchrun only rank 0 evaluates and writes
        if main:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "samples").mkdir(parents=True, exist_ok=True)
            self.game.save_assets(self.out_dir)
        tb_dir = self.out_dir / "tensorboard" if cfg.tensorboard else None
        log = MetricsLog(self.out_dir / "metrics.jsonl", tb_dir) if main else None
        bar = tqdm(total=total, initial=self.step, disable=not (cfg.progress and main), dynamic_ncols=True,
                   desc="train")
        stopped_early = False
        if self.doctor and main:
            self.doctor.take_snapshot()
        if main and self.step == 0 and cfg.init_from:  # the generator it starts from: the "before" of the run
            log.write({"step": 0, **self.evaluate()})
            self._track_best(self.last_eval)
        handlers = contextlib.ExitStack()
        stop = handlers.enter_context(_stop_requests())
        try:
            while self.step < total and not stopped_early:
                started = time.perf_counter()
                self.step += 1
                try:
                    stats = self._phase_step()
                except TrainingDiverged as exc:
                    if self._recover(exc, log):
                        continue
                    raise
                stats["step_time_s"] = time.perf_counter() - started
                record: dict[str, Any] = {"step": self.step}

                evaluating = self._evaluates_at(self.step) or self.step in phase_ends
                if evaluating and main:
                    record.update(self.evaluate())
                    stopped_early = self._track_best(self.last_eval)
                self.wall_time += time.perf_counter() - started
                if evaluating or self.step % cfg.log_every == 0:
                    record = {"step": self.step, **dist.mean_over_ranks(stats), **record}
                    if main:
                        record.update(self._probe_d())
                        log.write(record)
                        bar.set_postfix(self._postfix(record), refresh=False)
                        if self.doctor:
                            stopped_early = self.doctor.after_log(record, log) or stopped_early
                    stopped_early = dist.broadcast_flag(stopped_early)  # rank 0's early stop or doctor
                interrupted = dist.broadcast_flag(stop["signal"] is not None)  # every rank stops at one step
                if self.step % cfg.checkpoint_every == 0 or self.step == total or stopped_early or interrupted:
                    self.save("last.pt")
                bar.update(1)
                if interrupted:
                    raise RunInterrupted(self.step, stop["signal"] or "a signal on rank 0")
        finally:
            handlers.close()
            bar.close()
            if log:
                log.close()
        summary = dict(self.last_eval, wall_time_s=self.wall_time, steps=self.step)
        if self.recipe.eval.metric and self.best_value is not None:
            summary[f"best_{self.recipe.eval.metric}"] = self.best_value
            summary["best_step"] = self.best_step
        if main:
            write_summary(self.out_dir / "summary.json", summary)
        return summary

    def _evaluates_at(self, step: int) -> bool:
        every, start = self.recipe.eval.every, self.cfg.adversarial_start
        if self.recipe.eval.every_adversarial and step > start:
            every, step = self.recipe.eval.every_adversarial, step - start
        return step % every == 0

    def _postfix(self, record: dict[str, Any]) -> dict[str, str]:
        keys = ["mle_loss", "d_loss", "g_loss", "d_real", "d_fake"] + ([self.recipe.eval.metric] if self.recipe.eval.metric else [])
        return {k: f"{record[k]:.3g}" for k in keys if isinstance(record.get(k), (int, float))}

