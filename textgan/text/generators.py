"""Text generators: SeqGAN's LSTM, RelGAN's relational memory core and a GPT-2 style transformer.

All share one interface (`TextGenerator`): teacher-forced `forward`, per-token `log_probs`, and one
incremental `step` on which sampling, Gumbel-softmax sampling and the Monte-Carlo rollouts of
`textgan.text.signals` are built, so a prefix is never run twice.

A state is a tuple of tensors, each with the batch in dim 0, so states of any generator can be
repeated (`repeat_state`) and concatenated (`cat_states`) row-wise: that is what lets the rollouts
of every prefix length run in one batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.errors import UserError
from textgan.text import cpu_kernels

State = tuple[Tensor, ...]


def sample_logits(logits: Tensor, temperature: float = 1.0, top_k: int = 0, num_samples: int = 1,
                  generator: torch.Generator | None = None, overwrite: bool = False,
                  bias: Tensor | None = None) -> Tensor:
    """Draw `num_samples` tokens per row of `logits` (rows, V) from softmax((logits + bias) / temperature),
    restricted to the `top_k` most likely tokens (0: all); returns (rows, num_samples).

    Inverse-CDF sampling: one uniform per draw and one cumulative sum per row, several times faster
    on CPU than `torch.multinomial`, which draws an exponential variate for every vocabulary entry.
    float32 logits on the CPU go through the compiled kernel of `cpu_kernels`: one pass per row,
    with the bias and temperature applied on the fly. Elsewhere the probabilities come from one
    fused `softmax` pass (faster than max, subtract and exp as separate passes). Both draw the same
    uniforms, so a seed gives the same tokens either way (but for rounding at a token's boundary).
    `overwrite=True` lets the bias, top-k cut-off and temperature work in place in `logits` (saving a
    copy) and leave garbage there.
    """
    if not temperature > 0:
        raise UserError(f"the sampling temperature must be > 0, got {temperature}")
    vocab = logits.shape[-1]
    if bias is not None and top_k and top_k < vocab:
        logits, bias, overwrite = (logits.add_(bias) if overwrite else logits + bias), None, True
    if top_k and top_k < vocab:  # the same tokens at any temperature > 0
        logits = logits if overwrite else logits.clone()
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits, overwrite = logits.masked_fill_(logits < kth, float("-inf")), True
    # at least float32: a bf16 cumulative sum over thousands of tokens would lose the tail
    dtype = torch.promote_types(logits.dtype, torch.float32)
    u = torch.rand(len(logits), num_samples, dtype=dtype, device=logits.device, generator=generator)
    drawn = cpu_kernels.draw(logits, u, bias, 1.0 / temperature)
    if drawn is not None:
        return drawn
    if bias is not None:
        logits, overwrite = (logits.add_(bias) if overwrite else logits + bias), True
    if temperature != 1.0:
        logits = logits.div_(temperature) if overwrite else logits / temperature
    cdf = torch.softmax(logits, dim=-1, dtype=dtype).cumsum_(-1)
    # right=True: token i iff cdf[i-1] <= u * total < cdf[i], so zero-probability tokens never come
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_max_(vocab - 1)


def sample_linear(features: Tensor, layer: nn.Linear, temperature: float = 1.0, top_k: int = 0,
                  generator: torch.Generator | None = None, rows_per_chunk: int = 128) -> Tensor:
    """One token per row (rows,) drawn from softmax(layer(features) / temperature), as `sample_logits`.

    On CPU the rows go `rows_per_chunk` at a time, so a chunk's logits stay in the cache from the
    matmul to the draw instead of a (rows, V) tensor that each pass streams through memory, and the
    bias joins in the draw (`addmm` would first copy it into every row). A GPU wants one pass over
    all rows.
    """
    if features.device.type != "cpu":
        return sample_logits(layer(features), temperature, top_k, generator=generator, overwrite=True)[:, 0]
    weight, bias = layer.weight, layer.bias  # read once: a parametrization would run per read
    tokens = torch.empty(len(features), dtype=torch.long)
    for i in range(0, len(features), rows_per_chunk):
        logits = features[i : i + rows_per_chunk] @ weight.t()
        tokens[i : i + rows_per_chunk] = sample_logits(logits, temperature, top_k, generator=generator,
                                                       overwrite=True, bias=bias)[:, 0]
    return tokens


def gumbel_noise(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None = None,
                 eps: float = 1e-10) -> Tensor:
    """Gumbel(0, 1) noise -log(-log(U + eps) + eps), RelGAN's `add_gumbel`, from one uniform draw."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    return u.add_(eps).log_().neg_().add_(eps).log_().neg_()


class TextGenerator(nn.Module):
    """Base class: an autoregressive model over `vocab_size` tokens conditioned on a start token.

    Subclasses implement `forward`, `init_state` and `step`; everything else is built on them.
    """

    def __init__(self, vocab_size: int, bos_id: int) -> None:
        super().__init__()
        if not 0 <= bos_id < vocab_size:
            raise UserError(f"bos_id {bos_id} is outside the vocabulary (size {vocab_size})")
        self.vocab_size = vocab_size
        self.bos_id = bos_id

    def forward(self, tokens: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V): the input at t is token t-1, the start token at t=0."""
        raise NotImplementedError

    def init_state(self, batch_size: int) -> State:
        """The state before the start token is fed."""
        raise NotImplementedError

    def step(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Feed one token per row (B,); returns the next-token logits (B, V) and the new state."""
        raise NotImplementedError

    @torch.no_grad()
    def sample_step(self, prev_tokens: Tensor, state: State, temperature: float = 1.0, top_k: int = 0,
                    generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        """Feed one token per row (B,); returns the next token drawn per row (B,) and the new state."""
        logits, state = self.step(prev_tokens, state)
        return sample_logits(logits, temperature, top_k, generator=generator, overwrite=True)[:, 0], state

    @staticmethod
    def repeat_state(state: State, k: int) -> State:
        """Each row repeated k times in place (row b becomes rows b*k .. b*k+k-1)."""
        return tuple(s.repeat_interleave(k, dim=0) for s in state)

    @staticmethod
    def cat_states(states: list[State]) -> State:
        """Row-wise concatenation of states of equal shapes but for the batch."""
        return tuple(torch.cat(parts, dim=0) for parts in zip(*states))

    def bos(self, n: int) -> Tensor:
        """The start token for n rows, on the model's device."""
        return torch.full((n,), self.bos_id, dtype=torch.long, device=self._device())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _shift_right(self, tokens: Tensor) -> Tensor:
        """Teacher-forcing inputs: the start token, then tokens 0..T-2."""
        return torch.cat([self.bos(len(tokens))[:, None], tokens[:, :-1]], dim=1)

    def log_probs(self, tokens: Tensor) -> Tensor:
        """Per-token log-probabilities (B, T) of the given tokens under teacher forcing."""
        logits = self(tokens)  # (B, T, V): scored as B*T rows, avoiding a transposed copy of the logits
        return -F.cross_entropy(logits.flatten(0, 1), tokens.flatten(), reduction="none").view_as(tokens)

    @torch.no_grad()
    def sample(self, n: int, seq_len: int, temperature: float = 1.0, top_k: int = 0,
               generator: torch.Generator | None = None) -> Tensor:
        """n sequences (n, seq_len) drawn token by token with temperature and top-k (0: no cut-off)."""
        tokens = torch.empty(n, seq_len, dtype=torch.long, device=self._device())
        prev, state = self.bos(n), self.init_state(n)
        for t in range(seq_len):
            prev, state = self.sample_step(prev, state, temperature, top_k, generator)
            tokens[:, t] = prev
        return tokens

    def gumbel_sample(self, n: int, seq_len: int, tau: float, hard: bool = False,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """RelGAN's relaxed sampling: tokens (n, T) and differentiable soft one-hots (n, T, V).

        At each step g = logits + Gumbel noise; the token is argmax(g) (no gradient) and the soft
        one-hot is softmax(g / tau), so RelGAN's inverse temperature beta is 1 / tau. As in RelGAN,
        the next input is the embedding of the argmax token, not the soft mixture: gradients reach
        G through each step's soft output and through the recurrent state. `hard=True` is the
        straight-through variant: the forward value is the exact one-hot, the gradient the soft one's.
        """
        tokens = torch.empty(n, seq_len, dtype=torch.long, device=self._device())
        soft = []
        prev, state = self.bos(n), self.init_state(n)
        for t in range(seq_len):
            logits, state = self.step(prev, state)
            g = logits + gumbel_noise(logits.shape, logits, generator)
            prev = tokens[:, t] = g.argmax(-1)
            soft.append(torch.softmax(g / tau, dim=-1))
        y = torch.stack(soft, dim=1)
        if hard:
            one_hot = torch.zeros_like(y).scatter_(-1, tokens[..., None], 1.0)
            y = one_hot + (y - y.detach())
        return tokens, y


class LinearOutputGenerator(TextGenerator):
    """A generator whose logits are a linear layer `out` of per-step features: subclasses implement
    `features` (teacher-forced) and `step_features`. Sampling draws through `sample_linear`, a
    cache-sized slice of the (B, V) logits at a time, and `log_probs` through `linear_cross_entropy`,
    whose CPU kernel turns the logits into the softmax in place."""

    out: nn.Linear
    # what `train.compile` compiles: the output layer stays eager
    compiled_methods = ("features", "step_features")

    def features(self, tokens: Tensor) -> Tensor:
        """Teacher-forced features (B, T, H) under `out`: the input at t is token t-1, the start token
        at t=0."""
        raise NotImplementedError

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Feed one token per row (B,); returns the features (B, H) under `out` and the new state."""
        raise NotImplementedError

    def forward(self, tokens: Tensor) -> Tensor:
        return self.out(self.features(tokens))

    def log_probs(self, tokens: Tensor) -> Tensor:
        return self.log_probs_of(self.features(tokens), tokens)

    def log_probs_of(self, features: Tensor, tokens: Tensor) -> Tensor:
        """Per-token log-probabilities (B, T) of `tokens` given their teacher-forced `features` (B, T, H)."""
        nll = cpu_kernels.linear_cross_entropy(features.flatten(0, 1), self.out.weight, self.out.bias,
                                               tokens.flatten())
        return -nll.view_as(tokens)

    def step(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        features, state = self.step_features(prev_tokens, state)
        return self.out(features), state

    @torch.no_grad()
    def sample_step(self, prev_tokens: Tensor, state: State, temperature: float = 1.0, top_k: int = 0,
                    generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        features, state = self.step_features(prev_tokens, state)
        return sample_linear(features, self.out, temperature, top_k, generator), state


class LSTMGenerator(LinearOutputGenerator):
    """SeqGAN's generator: embedding, one LSTM layer, linear output (defaults 32/32 as in SeqGAN).

    Teacher forcing runs the fused `nn.LSTM`; `step` applies the same weights one step at a time.
    """

    def __init__(self, vocab_size: int, emb_dim: int = 32, hidden_dim: int = 32, *, bos_id: int) -> None:
        super().__init__(vocab_size, bos_id)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def features(self, tokens: Tensor) -> Tensor:
        h, _ = self.lstm(self.embedding(self._shift_right(tokens)))
        return h

    def init_state(self, batch_size: int) -> State:
        h = torch.zeros(batch_size, self.lstm.hidden_size, device=self._device())
        return h, torch.zeros_like(h)

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = lstm_cell(self.lstm, self.embedding(prev_tokens), *state)
        return h, (h, c)


def lstm_cell(lstm: nn.LSTM, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """One step of a one-layer `nn.LSTM` on input x (B, I) from state (h, c): the new (h, c), with
    the same weights the fused teacher-forced pass uses."""
    gates = F.linear(x, lstm.weight_ih_l0, lstm.bias_ih_l0) + F.linear(h, lstm.weight_hh_l0, lstm.bias_hh_l0)
    i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's gate order
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


class _BlockNorm(nn.Module):
    """Layer norm over the last two dims jointly (slots x features), with a per-feature affine map:
    RelGAN's `tf.contrib.layers.layer_norm` on (B, slots, features), whose `begin_norm_axis=1`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-2:]) * self.weight + self.bias


class RelationalMemoryGenerator(LinearOutputGenerator):
    """RelGAN's generator: a relational memory core (Santoro et al. 2018) and a linear output.

    Memory: `mem_slots` rows of width num_heads * head_size. Each step projects the input embedding
    to that width, appends it as an extra row, runs multi-head attention over [memory; input]
    (queries, keys and values from one bias-free projection, layer-normed, scaled by
    (2 * key + value size) ** -0.5 as in RelGAN), a residual + norm, a two-layer MLP, another
    residual + norm, drops the input row and gates the result into the memory like an LSTM: input
    and forget gates from tanh(memory) and the projected input, forget bias 1. The output is the
    flattened memory. Follows RelGAN's TensorFlow code (`utils/models/relational_memory.py`).
    """

    def __init__(self, vocab_size: int, emb_dim: int = 32, mem_slots: int = 1, num_heads: int = 2,
                 head_size: int = 256, *, bos_id: int) -> None:
        super().__init__(vocab_size, bos_id)
        self.mem_slots, self.num_heads, self.head_size = mem_slots, num_heads, head_size
        width = num_heads * head_size
        qkv_width = 3 * width  # key size = value size = head_size
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.input_proj = nn.Linear(emb_dim, width)
        self.qkv = nn.Linear(width, qkv_width, bias=False)
        self.qkv_norm = _BlockNorm(qkv_width)
        self.attn_norm = _BlockNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.mlp_norm = _BlockNorm(width)
        self.gate_input = nn.Linear(width, 2 * width, bias=False)
        self.gate_memory = nn.Linear(width, 2 * width, bias=False)
        self.out = nn.Linear(mem_slots * width, vocab_size)

    def _project(self, prev_tokens: Tensor) -> tuple[Tensor, ...]:
        """Everything that depends on the input alone: its memory row, its q/k/v, its gate term.

        The input projection is linear, so the q/k/v and gate maps are folded into it: per token one
        (emb_dim x 6 width) product instead of (emb_dim x width) + (width x 5 width).
        """
        w_in, b_in = self.input_proj.weight, self.input_proj.bias
        weight = torch.cat([w_in, self.qkv.weight @ w_in, self.gate_input.weight @ w_in])
        bias = torch.cat([b_in, self.qkv.weight @ b_in, self.gate_input.weight @ b_in])
        width = len(w_in)
        return F.linear(self.embedding(prev_tokens), weight, bias).split([width, 3 * width, 2 * width],
                                                                         dim=-1)

    def _update(self, x: Tensor, x_qkv: Tensor, x_gate: Tensor, memory: Tensor) -> Tensor:
        """One step of the core from the projected input (B, W) and the memory (B, N, W)."""
        b, n, w = memory.shape
        rows = torch.cat([memory, x[:, None]], dim=1)
        qkv = self.qkv_norm(torch.cat([self.qkv(memory), x_qkv[:, None]], dim=1))
        q, k, v = qkv.view(b, n + 1, self.num_heads, 3 * self.head_size).transpose(1, 2).chunk(3, dim=-1)
        att = F.scaled_dot_product_attention(q, k, v, scale=(3 * self.head_size) ** -0.5)
        h = self.attn_norm(rows + att.transpose(1, 2).reshape(b, n + 1, w))
        h = self.mlp_norm(h + self.mlp(h))[:, :n]
        in_gate, forget_gate = (self.gate_memory(memory.tanh()) + x_gate[:, None]).chunk(2, dim=-1)
        return in_gate.sigmoid() * h.tanh() + (forget_gate + 1.0).sigmoid() * memory

    def init_state(self, batch_size: int) -> State:
        """Identity rows padded (or truncated) to the memory width, as in RelGAN."""
        width = self.num_heads * self.head_size
        eye = torch.eye(self.mem_slots, width, device=self._device())
        return (eye.expand(batch_size, -1, -1).contiguous(),)

    def step_features(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        memory = self._update(*self._project(prev_tokens), state[0])
        return memory.flatten(1), (memory,)

    def features(self, tokens: Tensor) -> Tensor:
        xs, qkvs, gates = self._project(self._shift_right(tokens))  # all positions in one batch
        (memory,) = self.init_state(len(tokens))
        outputs = []
        for t in range(tokens.shape[1]):
            memory = self._update(xs[:, t], qkvs[:, t], gates[:, t], memory)
            outputs.append(memory.flatten(1))
        return torch.stack(outputs, dim=1)


@torch.no_grad()
def _restrict_vocabulary(model: nn.Module, token_ids: Sequence[int | None]) -> None:
    """Keep the embedding (and untied output) rows of `token_ids`, in that order; None: a fresh row."""
    std = getattr(model.config, "initializer_range", 0.02)
    known = torch.tensor([t is not None for t in token_ids])
    index = torch.tensor([0 if t is None else t for t in token_ids])
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings()
    old_out_w = old_out.weight.detach().clone()
    old_out_b = None if getattr(old_out, "bias", None) is None else old_out.bias.detach().clone()
    model.resize_token_embeddings(len(token_ids))
    rows = torch.where(known[:, None], old_in[index], torch.randn(len(index), old_in.shape[1]) * std)
    model.get_input_embeddings().weight.copy_(rows)
    out = model.get_output_embeddings()
    if out.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():  # untied head
        out.weight.copy_(torch.where(known[:, None], old_out_w[index], torch.randn_like(rows) * std))
        if old_out_b is not None:
            out.bias.copy_(torch.where(known, old_out_b[index], torch.zeros(len(index))))
    model.config.vocab_size = len(token_ids)


class TransformerGenerator(TextGenerator):
    """A causal transformer language model from `transformers` (GPT-2 style by default).

    The state is the key/value cache, flattened to (k_0, v_0, k_1, v_1, ...) with the batch in dim 0:
    `step` feeds one token against it, so sampling never re-runs the prefix. As for the other
    generators, Gumbel sampling feeds the argmax token's embedding back, not the soft mixture.
    """

    def __init__(self, model: nn.Module, bos_id: int) -> None:
        config = model.config
        super().__init__(config.vocab_size, bos_id)
        self.model = model
        self.max_len = (getattr(config, "n_positions", None)
                        or getattr(config, "max_position_embeddings", None))
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5

    @classmethod
    def from_config(cls, vocab_size: int, n_layer: int = 2, n_head: int = 2, n_embd: int = 64,
                    n_positions: int = 256, *, bos_id: int, **gpt2_options) -> TransformerGenerator:
        """A randomly initialised GPT-2; extra options (e.g. dropout `resid_pdrop`) go to GPT2Config."""
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(vocab_size=vocab_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                            n_positions=n_positions, bos_token_id=bos_id, eos_token_id=bos_id, **gpt2_options)
        return cls(GPT2LMHeadModel(config), bos_id)

    @classmethod
    def from_pretrained(cls, path: str | Path, bos_id: int | None = None,
                        token_ids: Sequence[int | None] | None = None,
                        eos_id: int | None = None) -> TransformerGenerator:
        """Load a causal LM from a local directory (never the network); bos_id defaults to the
        model's own `bos_token_id`.

        With `token_ids` (row i of the new vocabulary = the model's token `token_ids[i]`) the input
        and output embeddings are cut down to that vocabulary: a corpus's few thousand tokens instead
        of the model's tens of thousands, so the softmax, the Gumbel samples and D's soft inputs are
        that much smaller while the pretrained body is kept. Rows the model has no token for take its
        BOS/EOS rows at `bos_id`/`eos_id` and a fresh N(0, initializer_range) row elsewhere.
        """
        if not Path(path, "config.json").is_file():
            raise UserError(f"no pretrained model at {path} (expected a local directory with config.json)")
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        if token_ids is not None:
            config = model.config
            specials = {bos_id: config.bos_token_id, eos_id: config.eos_token_id}
            ids = [specials.get(i) if t is None else t for i, t in enumerate(token_ids)]
            _restrict_vocabulary(model, ids)
        bos_id = model.config.bos_token_id if bos_id is None else bos_id
        if bos_id is None:
            raise UserError(f"the model at {path} has no bos_token_id: pass bos_id")
        return cls(model, bos_id)

    def _check_length(self, length: int) -> None:
        if self.max_len is not None and length > self.max_len:
            raise UserError(f"sequence length {length} exceeds the transformer's {self.max_len} positions")

    def forward(self, tokens: Tensor) -> Tensor:
        self._check_length(tokens.shape[1])
        return self.model(input_ids=self._shift_right(tokens)).logits

    def init_state(self, batch_size: int) -> State:
        """An empty cache: zero-length keys and values for every layer."""
        config = self.model.config
        n_head = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
        n_kv = getattr(config, "num_key_value_heads", None) or n_head
        empty = torch.zeros(batch_size, n_kv, 0, head_dim, device=self._device())
        return (empty,) * (2 * config.num_hidden_layers)

    def step(self, prev_tokens: Tensor, state: State) -> tuple[Tensor, State]:
        from transformers import DynamicCache

        self._check_length(state[0].shape[2] + 1)
        cache = DynamicCache(list(zip(state[0::2], state[1::2])), config=self.model.config)
        out = self.model(input_ids=prev_tokens[:, None], use_cache=True, **{self._cache_arg: cache})
        cache = getattr(out, self._cache_arg)
        return out.logits[:, -1], tuple(t for layer in cache.layers for t in (layer.keys, layer.values))
