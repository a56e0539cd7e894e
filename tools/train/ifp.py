"""IFPruning in PyTorch: the ifp-demo Llama with a per-example FFN neuron mask, the runtime's learned
predictor ('deepsets-mlp', src/pruning/learned.ts) and SoftTopK. Shared by train.py, export.py and
make_fixture.py (docs/training.md).

Forward pass (llama2.c model.py layout; tied classifier; GQA: query head h uses kv head h // (nh/nkv)):
    x = E_tok[ids]                                            (B, T, dim)
    per layer:  x += attn(rmsnorm(x))                         RoPE on adjacent pairs (2i, 2i+1)
                a = rmsnorm(x)
                h = silu(a @ w1.T) * (a @ w3.T)               (B, T, n_ff)   w1 = gate, w3 = up
                h = h * mask[:, l, None, :]                   (B, 1, n_ff)   every position: the runtime
                                                              prunes the prefill as well
                x += h @ w2.T                                 w2 = down
    logits = rmsnorm(x) @ E_tok.T                             (B, T, vocab)

Predictor (reads only the prompt, BOS excluded; exactly learned.ts):
    z = [mean_t E[id_t] ; mean over the last `window` tokens]  (B, 2H)
    u = relu(W1 z + b1)                                        (B, U)
    s = W2 u + b2                                              (B, L·n_ff) → (B, L, n_ff)

SoftTopK per (example, layer): τ by bisection so that Σ_j σ((s_j − τ)/t) = k; soft mask σ((s − τ)/t),
with ∂τ/∂s_j = σ'_j / Σσ' (implicit differentiation of the constraint). Training runs the hard top-k
mask forward and the soft mask's gradient backward (straight-through), so the LLM adapts to exactly the
masks inference uses; always-on (shared) neurons are 1 and take no part in the top-k.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BOS = 1


# ---------------------------------------------------------------------------------------------------
# model

class Config:
    def __init__(self, dim=192, hidden=768, n_layers=4, n_heads=6, n_kv_heads=3, vocab=2048, seq_len=256, eps=1e-5):
        self.dim, self.hidden, self.n_layers, self.n_heads = dim, hidden, n_layers, n_heads
        self.n_kv_heads, self.vocab, self.seq_len, self.eps = n_kv_heads, vocab, seq_len, eps

    def to_dict(self):
        return dict(self.__dict__)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_size, seq_len, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, head_size, 2).float() / head_size))  # (hs/2)
    ang = torch.outer(torch.arange(seq_len).float(), freqs)  # (T, hs/2)
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x, cos, sin):
    # x (B, T, nh, hs): rotate adjacent pairs (2i, 2i+1) by pos · θ^(-2i/hs)
    xr, xi = x.float().reshape(*x.shape[:-1], -1, 2).unbind(-1)
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([xr * c - xi * s, xr * s + xi * c], -1).flatten(-2).type_as(x)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hs = cfg.dim // cfg.n_heads
        self.nh, self.nkv, self.hs = cfg.n_heads, cfg.n_kv_heads, hs
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * hs, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * hs, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * hs, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hs, cfg.dim, bias=False)
        self.w1 = nn.Linear(cfg.dim, cfg.hidden, bias=False)  # gate
        self.w2 = nn.Linear(cfg.hidden, cfg.dim, bias=False)  # down
        self.w3 = nn.Linear(cfg.dim, cfg.hidden, bias=False)  # up
        self.attention_norm = RMSNorm(cfg.dim, cfg.eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.eps)

    def forward(self, x, cos, sin, mask, observe=None):
        B, T, _ = x.shape
        a = self.attention_norm(x)
        q = apply_rope(self.wq(a).view(B, T, self.nh, self.hs), cos, sin)
        k = apply_rope(self.wk(a).view(B, T, self.nkv, self.hs), cos, sin)
        v = self.wv(a).view(B, T, self.nkv, self.hs)
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, dim=2), v.repeat_interleave(rep, dim=2)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.wo(o.transpose(1, 2).reshape(B, T, -1))
        a = self.ffn_norm(x)
        h = F.silu(self.w1(a)) * self.w3(a)  # (B, T, n_ff)
        if observe is not None:
            observe(h)
        if mask is not None:
            h = h * mask[:, None, :]
        return x + self.w2(h)


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.eps)
        cos, sin = rope_tables(cfg.dim // cfg.n_heads, cfg.seq_len)
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)

    def forward(self, ids, masks=None, observe=None):
        """ids (B, T); masks (B, L, n_ff) or None (dense); observe(l, h) sees each layer's h."""
        T = ids.shape[1]
        x = self.tok_embeddings(ids)
        for l, layer in enumerate(self.layers):
            obs = (lambda h, l=l: observe(l, h)) if observe else None
            x = layer(x, self.cos[:T], self.sin[:T], None if masks is None else masks[:, l], obs)
        return self.norm(x) @ self.tok_embeddings.weight.T


# ---------------------------------------------------------------------------------------------------
# llama2.c v0 checkpoints (model.bin): 7 int32 header, then f32 tensors each over all layers

def read_llama2c(path):
    with open(path, 'rb') as f:
        dim, hidden, L, nh, nkv, vocab, seq = struct.unpack('7i', f.read(28))
        data = np.frombuffer(f.read(), dtype=np.float32)
    cfg = Config(dim, hidden, L, nh, nkv, abs(vocab), seq)
    hs, kv = dim // nh, nkv * (dim // nh)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = torch.from_numpy(data[off:off + n].copy()).view(*shape)
        off += n
        return a

    m = Llama(cfg)
    sd = {'tok_embeddings.weight': take(cfg.vocab, dim)}
    for name, shape in [('attention_norm.weight', (dim,)), ('wq.weight', (dim, dim)), ('wk.weight', (kv, dim)), ('wv.weight', (kv, dim)),
                        ('wo.weight', (dim, dim)), ('ffn_norm.weight', (dim,)), ('w1.weight', (hidden, dim)), ('w2.weight', (dim, hidden)),
                        ('w3.weight', (hidden, dim))]:
        for l in range(L):
            sd[f'layers.{l}.{name}'] = take(*shape)
    sd['norm.weight'] = take(dim)
    m.load_state_dict(sd)
    return m


def write_llama2c(model, path):
    cfg = model.cfg
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    with open(path, 'wb') as f:
        f.write(struct.pack('7i', cfg.dim, cfg.hidden, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab, cfg.seq_len))
        f.write(sd['tok_embeddings.weight'].tobytes())
        for name in ['attention_norm.weight', 'wq.weight', 'wk.weight', 'wv.weight', 'wo.weight', 'ffn_norm.weight', 'w1.weight', 'w2.weight', 'w3.weight']:
            for l in range(cfg.n_layers):
                f.write(sd[f'layers.{l}.{name}'].astype(np.float32).tobytes())
        f.write(sd['norm.weight'].tobytes())
        cos, sin = rope_tables(cfg.dim // cfg.n_heads, cfg.seq_len)
        f.write(cos.numpy().astype(np.float32).tobytes())
        f.write(sin.numpy().astype(np.float32).tobytes())


def permute_neurons(model, perms):
    """Row r of layer l's FFN becomes source neuron perms[l][r] (the bundle order of an ifprune file)."""
    with torch.no_grad():
        for l, layer in enumerate(model.layers):
            p = torch.as_tensor(perms[l], dtype=torch.long)
            layer.w1.weight.copy_(layer.w1.weight[p])
            layer.w3.weight.copy_(layer.w3.weight[p])
            layer.w2.weight.copy_(layer.w2.weight[:, p])


def shrink_ffn(model, keep):
    """A dense model whose FFN keeps only neurons keep[l] (sorted ids) of each layer."""
    cfg = Config(**{**model.cfg.to_dict(), 'hidden': len(keep[0])})
    small = Llama(cfg)
    sd = model.state_dict()
    for l in range(cfg.n_layers):
        idx = torch.as_tensor(sorted(keep[l]), dtype=torch.long)
        sd[f'layers.{l}.w1.weight'] = sd[f'layers.{l}.w1.weight'][idx]
        sd[f'layers.{l}.w3.weight'] = sd[f'layers.{l}.w3.weight'][idx]
        sd[f'layers.{l}.w2.weight'] = sd[f'layers.{l}.w2.weight'][:, idx]
    small.load_state_dict(sd)
    return small


# ---------------------------------------------------------------------------------------------------
# predictor (learned.ts 'deepsets-mlp')

class Predictor(nn.Module):
    """kind 'deepsets-mlp' (the runtime's): pooled token vectors → MLP. The order-aware kinds (measured in
    docs/training.md) add a layer over the prompt's token vectors before the pools:
      'conv-mlp'  c_t = relu(bc + Σ_{j<K} C_j e_{t-j}) (causal, zero before the prompt), and
                  z = [mean e; window mean e; mean c; window mean c]
      'attn-mlp'  r_t = e_t + Wo·attention(e)_t (one causal layer, `heads` heads, RoPE), z = [mean r; window mean r]
    Both start as the deepsets predictor they are made from (with_order): the new W1 columns / Wo are zero."""

    def __init__(self, vocab, n_layers, nff, token_dim=128, hidden=256, window=16, kind='deepsets-mlp', conv=4, heads=4, codebook=0):
        super().__init__()
        assert kind in ('deepsets-mlp', 'conv-mlp', 'attn-mlp'), f'unknown predictor kind {kind}'
        self.shape = dict(vocab=vocab, nLayers=n_layers, nff=nff, tokenDim=token_dim, hidden=hidden, window=window, kind=kind)
        H = token_dim
        zdim = 4 * H if kind == 'conv-mlp' else 2 * H
        if kind == 'conv-mlp':
            self.shape['conv'] = conv
            self.C = nn.Parameter(torch.zeros(conv, H, H))
            self.bc = nn.Parameter(torch.zeros(H))
        if kind == 'attn-mlp':
            assert H % heads == 0 and (H // heads) % 2 == 0
            self.shape['heads'] = heads
            for k in ('Wq', 'Wk', 'Wv', 'Wo'):
                setattr(self, k, nn.Parameter(torch.zeros(H, H)))
        self.codebook = None  # (C, L, n_ff) or None: see snap() and set_codebook()
        self.route = None  # (C,) long or None: the nearest entry c gives entry route[c] (route.py; not a parameter)
        if codebook:
            self.set_codebook(torch.zeros(codebook, n_layers, nff))
        self.E = nn.Parameter(torch.zeros(vocab, token_dim))
        self.W1 = nn.Parameter(torch.zeros(hidden, zdim))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.W2 = nn.Parameter(torch.zeros(n_layers * nff, hidden))
        self.b2 = nn.Parameter(torch.zeros(n_layers * nff))

    def set_codebook(self, cb):
        """cb (C, L, n_ff) becomes the codebook, a parameter (trainable: train.py --codebook)."""
        self.codebook = nn.Parameter(cb.detach().clone().float())
        self.shape['codebook'] = cb.shape[0]
        self.route = None  # a route names entries of the old codebook

    @staticmethod
    def from_shape(s):
        extra = {k: s[k] for k in ('conv', 'heads', 'codebook') if k in s}
        return Predictor(s['vocab'], s['nLayers'], s['nff'], s['tokenDim'], s['hidden'], s['window'], s.get('kind', 'deepsets-mlp'), **extra)

    @staticmethod
    def from_files(prefix, shape):
        p = Predictor.from_shape(shape)
        with torch.no_grad():
            for k in ['E', 'W1', 'b1', 'W2', 'b2']:
                t = getattr(p, k)
                t.copy_(torch.from_numpy(np.fromfile(f'{prefix}.{k}.f32', dtype=np.float32)).view(t.shape))
        return p

    def widened(self, hidden, seed=1):
        """The same function with `hidden` units: the old units copied, the new ones with random input
        weights (the old rows' scale) and zero output weights, so training starts where this one is."""
        s = self.shape
        old = s['hidden']
        assert hidden >= old, f'a predictor of {old} hidden units cannot be narrowed to {hidden}'
        p = Predictor.from_shape({**s, 'hidden': hidden})
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for k, v in self.named_parameters():
                if k not in ('W1', 'b1', 'W2'):
                    getattr(p, k).copy_(v)
            p.W1[:old] = self.W1
            p.W1[old:] = torch.randn(hidden - old, self.W1.shape[1], generator=g) * self.W1.std()
            p.b1[:old] = self.b1
            p.W2[:, :old] = self.W2
        return p

    def with_order(self, kind, seed=1, conv=4, heads=4):
        """This deepsets predictor as an order-aware `kind` computing the same function at first: the
        new layer's weights random (scale 1/√(fan-in)), its way into the MLP zero."""
        assert self.shape.get('kind', 'deepsets-mlp') == 'deepsets-mlp'
        s = self.shape
        p = Predictor(s['vocab'], s['nLayers'], s['nff'], s['tokenDim'], s['hidden'], s['window'], kind, conv, heads)
        g = torch.Generator().manual_seed(seed)
        H = s['tokenDim']
        with torch.no_grad():
            for k in ('E', 'b1', 'W2', 'b2'):
                getattr(p, k).copy_(getattr(self, k))
            p.W1.zero_()
            p.W1[:, :2 * H] = self.W1
            scale = self.E.std().clamp(min=1e-6)  # token vectors' scale: the new layer's input
            if kind == 'conv-mlp':
                p.C.copy_(torch.randn(conv, H, H, generator=g) / math.sqrt(conv * H) / scale)
            if kind == 'attn-mlp':
                for k in ('Wq', 'Wk', 'Wv'):
                    getattr(p, k).copy_(torch.randn(H, H, generator=g) / math.sqrt(H))
        return p

    def infer(self, prompt_ids, prompt_lens):
        """The scores inference selects by: forward(), then snapped to the codebook when there is one."""
        s = self(prompt_ids, prompt_lens)
        return s if self.codebook is None else snap(s, self.codebook, self.route)

    def pool_weights(self, prompt_lens, P):
        """(B, P) weights of the whole-prompt mean and the last-window mean; position 0 is BOS (excluded)."""
        W = self.shape['window']
        pos = torch.arange(P)[None, :]
        n = prompt_lens[:, None]  # BOS + prompt tokens
        first = (n > 1).long()  # BOS skipped when there is anything after it
        ntok = (n - first).clamp(min=1)
        inside = (pos >= first) & (pos < n)
        last_from = first + (ntok - W).clamp(min=0)
        w_all = inside.float() / ntok
        end = inside & (pos >= last_from)
        w_end = end.float() / end.sum(1, keepdim=True).clamp(min=1)
        return w_all, w_end, inside, first

    def forward(self, prompt_ids, prompt_lens):
        """prompt_ids (B, P) padded, BOS first; prompt_lens (B) → scores (B, L, n_ff)."""
        e = self.E[prompt_ids]  # (B, P, H)
        w_all, w_end, inside, first = self.pool_weights(prompt_lens, prompt_ids.shape[1])
        pool = lambda v: torch.cat([(w_all[..., None] * v).sum(1), (w_end[..., None] * v).sum(1)], -1)  # noqa: E731
        kind = self.shape.get('kind', 'deepsets-mlp')
        if kind == 'conv-mlp':
            K = self.shape['conv']
            x = (e * inside[..., None]).transpose(1, 2)  # (B, H, P), zero outside the prompt
            w = self.C.flip(0).permute(1, 2, 0)  # (H_out, H_in, K): tap K-1 is C_0 (the current token)
            c = F.relu(F.conv1d(F.pad(x, (K - 1, 0)), w) + self.bc[None, :, None]).transpose(1, 2)
            z = torch.cat([pool(e), pool(c)], -1)
        elif kind == 'attn-mlp':
            B, P, H = e.shape
            nh = self.shape['heads']
            hs = H // nh
            x = e * inside[..., None]
            cos, sin = rope_tables(hs, P)
            # positions count from the first prompt token
            idx = (torch.arange(P)[None, :] - first).clamp(min=0)
            c, s_ = cos[idx], sin[idx]  # (B, P, hs/2)

            def rope(t):
                tr, ti = t.reshape(B, P, nh, hs // 2, 2).unbind(-1)
                cc, ss = c[:, :, None, :], s_[:, :, None, :]
                return torch.stack([tr * cc - ti * ss, tr * ss + ti * cc], -1).reshape(B, P, nh, hs)
            q = rope(x @ self.Wq.T).transpose(1, 2)
            k = rope(x @ self.Wk.T).transpose(1, 2)
            v = (x @ self.Wv.T).view(B, P, nh, hs).transpose(1, 2)
            allowed = torch.tril(torch.ones(P, P, dtype=torch.bool))[None] & inside[:, None, :]  # (B, P, P)
            allowed = allowed | torch.eye(P, dtype=torch.bool)[None]  # rows outside the prompt see themselves (x = 0)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
            o = o.transpose(1, 2).reshape(B, P, H)
            z = pool(e + o @ self.Wo.T)
        else:
            z = pool(e)
        u = F.relu(z @ self.W1.T + self.b1)
        s = u @ self.W2.T + self.b2
        return s.view(-1, self.shape['nLayers'], self.shape['nff'])


# ---------------------------------------------------------------------------------------------------
# codebook: a fixed set of C score vectors; inference uses the one nearest the predictor's scores

def standardise(s):
    """(..., L, n) scores → per layer zero mean and unit standard deviation (n − 1 in the denominator,
    at least 1e-6): the space the codebook lives in."""
    m = s.mean(-1, keepdim=True)
    sd = ((s - m).pow(2).sum(-1, keepdim=True) / (s.shape[-1] - 1)).sqrt().clamp(min=1e-6)
    return (s - m) / sd


def entry_distances(s, codebook):
    """(B, L, n) scores → (B, C): |z − c|² − |z|² = |c|² − 2 z·c for every entry c, z = standardise(s)
    (|z|² is the same for every entry of a row, so it changes neither the nearest nor a softmax over a row)."""
    z = standardise(s).flatten(1)
    cb = codebook.flatten(1)
    return (cb * cb).sum(1)[None] - 2 * z @ cb.T


def nearest_entry(s, codebook):
    """(B, L, n) scores → (B,): the codebook entry c minimising |z − c|² over all layers, z = standardise(s);
    computed as |c|² − 2 z·c, the first of equals."""
    return entry_distances(s, codebook).argmin(1)


def snap(s, codebook, route=None):
    """(B, L, n) scores → (B, L, n): the nearest entry's scores, or with route (C,) those of entry
    route[nearest] (tools/train/route.py)."""
    c = nearest_entry(s, codebook)
    return codebook[c if route is None else route[c]]


def fit_codebook(scores, C, iters=25, seed=0):
    """k-means (C centres, `iters` Lloyd steps, seeded with C random examples) of standardise(scores),
    scores (N, L, n) → (C, L, n). An empty cluster keeps its centre."""
    z = standardise(scores).flatten(1)
    g = torch.Generator().manual_seed(seed)
    cent = z[torch.randperm(len(z), generator=g)[:C]].clone()
    for _ in range(iters):
        a = torch.cdist(z, cent).argmin(1)
        for c in range(C):
            m = a == c
            if m.any():
                cent[c] = z[m].mean(0)
    return cent.view(C, *scores.shape[1:])


# ---------------------------------------------------------------------------------------------------
# SoftTopK

def soft_top_k(s, k, t, iters=30):
    """s (..., n), k (...,) neurons to keep, temperature t → soft mask with Σ = k, differentiable in s."""
    kf = k.float()[..., None] if torch.is_tensor(k) else torch.full(s.shape[:-1] + (1,), float(k))
    with torch.no_grad():
        lo = s.min(-1, keepdim=True).values - 20 * t
        hi = s.max(-1, keepdim=True).values + 20 * t
        for _ in range(iters):
            mid = (lo + hi) / 2
            over = torch.sigmoid((s - mid) / t).sum(-1, keepdim=True) > kf
            lo = torch.where(over, mid, lo)
            hi = torch.where(over, hi, mid)
        tau0 = (lo + hi) / 2
        sig = torch.sigmoid((s - tau0) / t)
        d = sig * (1 - sig)
        w = d / d.sum(-1, keepdim=True).clamp(min=1e-12)
    tau = tau0 + (w * (s - s.detach())).sum(-1, keepdim=True)  # value τ0, gradient ∂τ/∂s = σ'/Σσ'
    return torch.sigmoid((s - tau) / t)


def hard_top_k(s, k):
    """0/1 mask of the k largest scores per row; k a tensor (...,) or an int."""
    n = s.shape[-1]
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices
    kk = k[..., None] if torch.is_tensor(k) else torch.full(s.shape[:-1] + (1,), k)
    rank_mask = (torch.arange(n)[(None,) * (s.dim() - 1)] < kk).float()
    return torch.zeros_like(s).scatter(-1, order, rank_mask)


def make_masks(scores, k, t, shared=None, straight_through=True):
    """scores (B, L, n); k (B,) neurons per layer; shared (L, n) bool always-on → (B, L, n) masks."""
    kk = k[:, None].expand(scores.shape[:2])
    if shared is not None:
        big = torch.finfo(scores.dtype).max / 4
        scores = torch.where(shared[None], torch.full_like(scores, big), scores)
    hard = hard_top_k(scores.detach(), kk)
    if not straight_through:
        return hard
    soft = soft_top_k(scores, kk, t)
    return hard + soft - soft.detach()


def neurons_at(density, nff):
    """select.ts neuronsAt."""
    return 0 if density == 0 else max(1, round(density * nff))


# ---------------------------------------------------------------------------------------------------
# stored precision of the predictor (predictor-file.ts: E, W1 as F16; W2 as Q8_0 along U; b1, b2 F32)

def round_f16(x):
    return torch.from_numpy(x.detach().float().numpy().astype(np.float16).astype(np.float32))


def round_q8_0(x):
    """ggml quantize_row_q8_0_ref then dequantise, rows of x in 32-weight blocks."""
    a = x.detach().float().numpy().reshape(-1, 32).astype(np.float32)
    amax = np.abs(a).max(1)
    d = (amax / np.float32(127)).astype(np.float32)
    d16 = d.astype(np.float16)
    with np.errstate(divide='ignore'):
        inv = np.where(d16 != 0, np.float32(1) / d16.astype(np.float32), np.float32(0)).astype(np.float32)
    prod = (a * inv[:, None]).astype(np.float32)
    q = np.sign(prod) * np.floor(np.abs(prod) + np.float32(0.5))  # C roundf: half away from zero
    return torch.from_numpy((q.astype(np.float32) * d16.astype(np.float32)[:, None]).reshape(x.shape))


def round_predictor_to_storage(p):
    with torch.no_grad():
        p.E.copy_(round_f16(p.E))
        p.W1.copy_(round_f16(p.W1))
        if p.W2.shape[1] % 32 == 0:
            p.W2.copy_(round_q8_0(p.W2))
        else:
            p.W2.copy_(round_f16(p.W2))


def load_checkpoint(path):
    """(model, predictor or None, checkpoint dict) of a train.py checkpoint (ckpt.pt or final.pt)."""
    ck = torch.load(path, weights_only=False)
    model = Llama(Config(**ck['config']))
    model.load_state_dict(ck['model'])
    pred = None
    if ck.get('pred') is not None:
        pred = Predictor.from_shape(ck['pred_shape'])
        pred.load_state_dict(ck['pred'])
        if ck.get('route') is not None:  # tools/train/route.py
            pred.route = torch.tensor(ck['route'], dtype=torch.long)
    return model, pred, ck


def load_json(path):
    with open(path) as f:
        return json.load(f)
