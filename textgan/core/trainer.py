"""The one adversarial training loop, shared by every game.

One iteration = `n_critic` discriminator steps, then `g_steps` generator steps. Before it, a run may
pre-train: generator MLE steps (`train.pretrain_steps`, the game's `pretrain_loss`, optimiser
`optim_pretrain`), then discriminator steps on real versus generated data (`train.pretrain_d_steps`);
one step counter runs through all phases, so checkpoints and resume need nothing special. The
updates themselves are `core.steps` (their objective is `core.objective`); the trainer builds
what they update (optimisers and LR schedules, TTUR through separate configs, EMA of G), runs the
loop, evaluates, keeps the best checkpoint and stops early, writes atomic checkpoints that resume
bit-for-bit, and logs the signals (`core.schema`) that a monitor such as the live doctor reads.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from textgan.config import Recipe
from textgan.core import distributed as dist
from textgan.core import regularizers as reg
from textgan.core import schema
from textgan.core.checkpoint import (
    first_difference,
    load_checkpoint,
    non_finite_tensors,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from textgan.core.ema import EMA
from textgan.core.game import Game
from textgan.core.logging import MetricsLog, truncate_metrics, write_summary
from textgan.core.objective import Objective
from textgan.core.optim import build_optimizer, build_scheduler
from textgan.core.steps import NonFiniteStep, Optimised, Players, adversarial_step, d_step, mle_step
from textgan.errors import UserError


class TrainingDiverged(UserError):
    """A loss or gradient became NaN/inf; the last good checkpoint is kept untouched. `values` holds the
    offending numbers by their metrics.jsonl names (logged as the doctor's evidence)."""

    def __init__(self, message: str, values: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.values = values or {}


class Monitor(Protocol):
    """What watches a run from inside the loop (the live doctor, `textgan.doctor.live`): it sees every
    logged record, may stop the run or recover from a divergence through the trainer's public
    interface, and its state is part of every checkpoint."""

    def take_snapshot(self) -> None: ...

    def after_log(self, record: dict[str, Any], log: MetricsLog) -> bool: ...

    def recover(self, values: dict[str, float], message: str, log: MetricsLog) -> bool: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
        # the signature's: not the live doctor's later changes
        self._model_as_built = recipe.to_dict()["model"]
        metric, reported = recipe.eval.metric, game.metric_names()
        if metric and reported is not None and metric not in reported:
            raise UserError(f"eval.metric {metric!r} is not computed by this game with this "
                            f"recipe; it reports {sorted(reported)}{game.metric_hint(metric)}")

        G, D = game.generator, game.discriminator
        reg.init_weights(G, self.cfg.init)
        reg.init_weights(D, self.cfg.init)
        if self.cfg.spectral_norm:
            reg.apply_spectral_norm(D)
        G.to(device)
        D.to(device)
        dist.broadcast_module(G)
        dist.broadcast_module(D)
        if (self.cfg.pretrain_steps or self.cfg.mle_every) and type(game).pretrain_loss is Game.pretrain_loss:
            Game.pretrain_loss(game, self.cfg.batch_size)  # raises: this game has no pre-training

        def optimised(net: nn.Module, cfg: Any, steps: int) -> Optimised:
            optimizer = build_optimizer(net.parameters(), cfg)
            return Optimised(optimizer, build_scheduler(optimizer, cfg, steps), cfg)

        self.players = Players(
            game, Objective(recipe.loss),
            g=optimised(G, recipe.optim_g, self.cfg.steps),
            d=optimised(D, recipe.optim_d, self.cfg.steps),
            pretrain=optimised(G, recipe.optim_pretrain, self.cfg.pretrain_steps),
            batch_size=dist.local_batch_size(self.cfg.batch_size),  # this process's share of the batch
            accumulate=self.cfg.accumulate,
            ema=EMA(G, self.cfg.ema_decay, self.cfg.ema_start) if self.cfg.ema_decay else None,
            autocast=self._autocast,
        )
        self.ema = self.players.ema
        if self.cfg.compile:  # after the EMA's deep copy, which stays eager
            self._compile_networks()

        self.step = 0
        self.wall_time = 0.0
        self.best_value: float | None = None
        self.best_step = -1
        self.bad_evals = 0
        self.last_eval: dict[str, float] = {}
        self.monitor: Monitor | None = None  # set by `textgan.doctor.live.attach_doctor`
        self._seed_rank()

    def _compile_networks(self) -> None:
        """`train.compile`: G always; D unless its loss differentiates through its input gradients."""
        compile_network(self.game.generator)
        loss = self.recipe.loss
        if not (loss.effective_gp_weight or loss.r1_weight or self.recipe.doctor.mode == "auto"):
            compile_network(self.game.discriminator)
        elif dist.is_main():
            print("note: train.compile leaves D eager: the gradient penalty / R1 (which the doctor in auto "
                  "mode may switch on) differentiates through D's input gradients, which compiled code "
                  "cannot (torch.compile has no double backward)", file=sys.stderr)

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
            "phases": {"pretrain_steps": self.cfg.pretrain_steps,
                       "pretrain_d_steps": self.cfg.pretrain_d_steps},
            "model": self._model_as_built,
            "spectral_norm": self.cfg.spectral_norm,
            "ema": bool(self.cfg.ema_decay),
            "game_signature": self.game.signature(),
        }

    def _optimised(self) -> dict[str, Optimised]:
        """Each optimiser by its checkpoint name (`opt_g`/`sched_g`, ...) and recipe section (`optim_g`)."""
        return {"g": self.players.g, "d": self.players.d, "pretrain": self.players.pretrain}

    def state_dict(self) -> dict[str, Any]:
        optimisers = {}
        for name, o in self._optimised().items():
            optimisers.update({f"opt_{name}": o.optimizer.state_dict(),
                               f"sched_{name}": o.schedule.state_dict()})
        return {
            "step": self.step,
            "generator": self.game.generator.state_dict(),
            "discriminator": self.game.discriminator.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
            **optimisers,
            "game": self.game.state_dict(),
            "rng": rng_state(),
            "doctor": self.monitor.state_dict() if self.monitor else None,
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
        for name, o in self._optimised().items():
            o.optimizer.load_state_dict(state[f"opt_{name}"])
            o.schedule.load_state_dict(state[f"sched_{name}"])
        self.game.load_state_dict(state["game"])
        set_rng_state(state["rng"])
        t = state["trainer"]
        self.wall_time = t["wall_time"]
        self.best_value, self.best_step, self.bad_evals = t["best_value"], t["best_step"], t["bad_evals"]
        self.last_eval = dict(t["last_eval"])
        if self.monitor and state.get("doctor"):
            self.monitor.load_state_dict(state["doctor"])

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
            raise UserError(f"checkpoint {path} comes from an incompatible run: "
                            f"{first_difference(saved, wanted)}")
        try:
            self.load_state_dict(state)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise UserError(f"checkpoint does not fit this recipe: {str(exc).splitlines()[0]}") from None
        self._seed_rank()
        if dist.is_main():
            truncate_metrics(self.out_dir / "metrics.jsonl", self.step)

    def init_generator_from(self, source: str | Path) -> int:
        """Start from another run's generator (and its EMA, else its generator as the EMA; and whatever
        else the game's `init_from_parts` names): the same game and data (vocabulary, sequence length,
        oracle) and the same shapes, or a `UserError`. Returns the step the source had reached."""
        path = Path(source)
        if path.is_dir():
            path = path / "checkpoints" / "last.pt"
        state = load_checkpoint(path)
        saved = json.loads(state["signature"])
        wanted = json.loads(json.dumps(self.signature(), sort_keys=True))
        if saved.get("game") != wanted["game"]:
            raise UserError(f"--init-from {path}: another game "
                            f"({saved.get('game')}, this recipe {wanted['game']})")
        theirs_data, mine_data = saved.get("game_signature", {}), wanted["game_signature"]
        for key in sorted(set(theirs_data) | set(mine_data),
                          key=lambda k: (k not in ("vocab_size", "seq_len"), k)):
            if theirs_data.get(key) != mine_data.get(key):  # the sizes first: they say the most
                raise UserError(f"--init-from {path}: other data: "
                                f"{first_difference(theirs_data.get(key), mine_data.get(key), key)}")
        for part in self.game.init_from_parts:
            self._load_part(path, part, state[part])
        if self.ema:
            self.ema.load_state_dict(state["ema"] if state.get("ema") else state["generator"])
        return int(state["step"])

    def _load_part(self, path: Path, part: str, theirs: dict[str, Tensor]) -> None:
        """Load the game's `part` (generator, discriminator) from another run's weights, or a
        `UserError` naming the first parameter that is missing or shaped otherwise."""
        module = getattr(self.game, part)
        mine = module.state_dict()
        if theirs.keys() != mine.keys():
            extra = sorted(set(theirs) ^ set(mine))[:2]
            raise UserError(f"--init-from {path}: another {part} (parameters {', '.join(extra)} are "
                            "in one only)")
        for key, value in theirs.items():
            if value.shape != mine[key].shape:
                raise UserError(f"--init-from {path}: {part} parameter {key} has shape "
                                f"{tuple(value.shape)} there but {tuple(mine[key].shape)} in this recipe")
        module.load_state_dict(theirs)

    # ----------------------------------------------------------------- one iteration
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _phase_step(self) -> dict[str, float]:
        """Run the current step of whichever phase it belongs to; a non-finite loss or gradient
        becomes `TrainingDiverged`, its values logged as the doctor's evidence."""
        cfg, p = self.cfg, self.players
        try:
            if self.step <= cfg.pretrain_steps:
                return mle_step(p, self.step)
            if self.step <= cfg.adversarial_start:
                return d_step(p, self.step)
            return adversarial_step(p, self.step, self.step - cfg.adversarial_start, cfg.steps, cfg.n_critic,
                                    cfg.g_steps, cfg.mle_every, cfg.mle_steps)
        except NonFiniteStep as exc:
            raise TrainingDiverged(f"training diverged at step {self.step}: {exc}; "
                                   f"{self._kept_checkpoint()}. Lower the learning rate or set "
                                   "optim_*.clip_norm", exc.values) from None

    @property
    def _final_phase_start(self) -> int:
        """Early stopping ends the run only in its last phase; before that, evaluations keep best.pt."""
        cfg = self.cfg
        if cfg.steps:
            return cfg.adversarial_start
        return cfg.pretrain_steps if cfg.pretrain_d_steps else 0

    # ----------------------------------------------------------------- changes while training
    def apply_change(self, dotted: str, value: Any) -> None:
        """Change one recipe key while training (the live doctor's remedies): the loss section
        rebuilds the objective, a learning rate or weight decay reaches the optimiser (a learning
        rate through its schedule's base), a model key reaches the game; the rest is read live."""
        section, name = dotted.split(".")
        setattr(getattr(self.recipe, section), name, value)
        if section == "loss":
            self.players.objective = Objective(self.recipe.loss)
        elif section.startswith("optim_") and name == "lr":
            # the same point of its schedule, from the new base
            o = self._optimised()[section.removeprefix("optim_")]
            ratio = value / o.schedule.base_lrs[0]
            o.schedule.base_lrs = [lr * ratio for lr in o.schedule.base_lrs]
            for group in o.optimizer.param_groups:
                group["lr"] *= ratio
        elif section.startswith("optim_") and name == "weight_decay":
            for group in self._optimised()[section.removeprefix("optim_")].optimizer.param_groups:
                group["weight_decay"] = value
        elif section == "model":
            self.game.set_model_option(name, value)

    def _kept_checkpoint(self) -> str:
        last = self.checkpoint_dir / "last.pt"
        if last.is_file():
            return f"the last good checkpoint, {last}, is kept"
        return "no checkpoint had been saved yet (the run starts over when run again)"

    def _recover(self, exc: TrainingDiverged, log: MetricsLog | None) -> bool:
        """Log the non-finite values (the doctor's evidence); True when the live doctor rolled back."""
        if log is None:
            return False
        log.write({schema.STEP: self.step, **exc.values})
        return self.monitor is not None and self.monitor.recover(exc.values, str(exc), log)

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
            schema.D_TRAIN_SLICE: train.mean().item(),
            schema.D_HELDOUT: held.mean().item(),
            schema.RT_TRAIN_SLICE: torch.sign(train).mean().item(),
            schema.RT_HELDOUT: torch.sign(held).mean().item(),
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
            raise UserError(f"eval.metric {ecfg.metric!r} is not computed by this game; it reports "
                            f"{sorted(metrics)}")
        value = metrics[ecfg.metric]
        better = self.best_value is None or (value > self.best_value if ecfg.mode == "max"
                                             else value < self.best_value)
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
        main = dist.is_main()  # under torchrun only rank 0 evaluates and writes
        handlers = contextlib.ExitStack()
        stop = handlers.enter_context(_stop_requests())  # from the run folder's first file on
        log, bar, stopped_early = None, None, False
        try:
            log = self._open_run_folder() if main else None
            bar = tqdm(total=total, initial=self.step, disable=not (cfg.progress and main),
                       dynamic_ncols=True, desc="train")
            if self.monitor and main:
                self.monitor.take_snapshot()
            if log and self.step == 0 and cfg.init_from:  # the generator it starts from: the run's "before"
                log.write({schema.STEP: 0, **self.evaluate()})
                self._track_best(self.last_eval)
            while self.step < total and not stopped_early:
                # one step of the current phase; a divergence the monitor rolled back is retried
                started = time.perf_counter()
                self.step += 1
                try:
                    stats = self._phase_step()
                except TrainingDiverged as exc:
                    if self._recover(exc, log):
                        continue
                    raise
                stats[schema.STEP_TIME_S] = time.perf_counter() - started
                # evaluate, log and let the monitor look: at their cadences and at the end of each phase
                stopped_early = self._evaluate_and_log(stats, started, log, bar)
                # checkpoint at the cadence and whenever the run ends (a signal ends it after this step)
                interrupted = dist.broadcast_flag(stop["signal"] is not None)  # every rank stops at one step
                if (self.step % cfg.checkpoint_every == 0 or self.step == total or stopped_early
                        or interrupted):
                    self.save("last.pt")
                bar.update(1)
                if interrupted:
                    raise RunInterrupted(self.step, stop["signal"] or "a signal on rank 0")
        finally:
            handlers.close()
            if bar:
                bar.close()
            if log:
                log.close()
        return self._write_summary(main)

    def _open_run_folder(self) -> MetricsLog:
        """The run folder's checkpoint and sample folders, the game's assets, and the metrics log."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "samples").mkdir(parents=True, exist_ok=True)
        self.game.save_assets(self.out_dir)
        tb_dir = self.out_dir / "tensorboard" if self.cfg.tensorboard else None
        return MetricsLog(self.out_dir / "metrics.jsonl", tb_dir)

    def _evaluate_and_log(self, stats: dict[str, float], started: float,
                          log: MetricsLog | None, bar: Any) -> bool:
        """Evaluate when due, log every `log_every` steps (and at evaluations) with D's over-fitting
        probe, and hand the record to the monitor; True when the run should stop (early stopping or
        the monitor), agreed by every rank."""
        cfg = self.cfg
        phase_ends = {cfg.pretrain_steps, cfg.adversarial_start, cfg.total_steps} - {0}
        evaluating = self._evaluates_at(self.step) or self.step in phase_ends
        record: dict[str, Any] = {schema.STEP: self.step}
        stop = False
        if evaluating and log:
            record.update(self.evaluate())
            stop = self._track_best(self.last_eval)
        self.wall_time += time.perf_counter() - started
        if not (evaluating or self.step % cfg.log_every == 0):
            return stop
        record = {schema.STEP: self.step, **dist.mean_over_ranks(stats), **record}
        if log:
            record.update(self._probe_d())
            log.write(record)
            bar.set_postfix(self._postfix(record), refresh=False)
            if self.monitor:
                stop = self.monitor.after_log(record, log) or stop
        return dist.broadcast_flag(stop)  # rank 0's early stop or monitor

    def _write_summary(self, main: bool) -> dict[str, float]:
        summary = {**self.last_eval, schema.WALL_TIME_S: self.wall_time, schema.STEPS: self.step}
        if self.recipe.eval.metric and self.best_value is not None:
            summary[schema.best_key(self.recipe.eval.metric)] = self.best_value
            summary[schema.BEST_STEP] = self.best_step
        if main:
            write_summary(self.out_dir / "summary.json", summary)
        return summary

    def _evaluates_at(self, step: int) -> bool:
        every, start = self.recipe.eval.every, self.cfg.adversarial_start
        if self.recipe.eval.every_adversarial and step > start:
            every, step = self.recipe.eval.every_adversarial, step - start
        return step % every == 0

    def _postfix(self, record: dict[str, Any]) -> dict[str, str]:
        keys = [schema.MLE_LOSS, schema.D_LOSS, schema.G_LOSS, schema.D_REAL, schema.D_FAKE,
                self.recipe.eval.metric]
        return {k: f"{record[k]:.3g}" for k in keys if isinstance(record.get(k), (int, float))}

