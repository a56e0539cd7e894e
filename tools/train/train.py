"""Joint training of ifp-demo and its mask predictor (IFPruning; docs/training.md).

  stage 1  continued pre-training: the predictor reads a chunk of a document (BOS + 48..128 tokens),
           the LLM, masked by the predictor's top-k at every position, learns the next chunk
           (loss on the next chunk only)
  stage 2  prompt → response pairs (../shared/calibration, 90%; 10% held out): loss on the response

  python3 tools/train/train.py --stage 1 --data /tmp/ifp-train/data --out /tmp/ifp-train/joint1 --steps 1800
  python3 tools/train/train.py --stage 2 --data /tmp/ifp-train/data --init /tmp/ifp-train/joint1/final.pt \
      --out /tmp/ifp-train/joint2 --steps 700
  baselines: the same with --dense-ff 192 (or 384): a dense model whose FFN is the activated size,
  started from ifp-demo's neurons with the highest static ranking, on the same batches.
  distillation: --distill 0.9 --lr 2e-4 trains on 0.9·KL(teacher ‖ student) + 0.1·CE over the scored
  positions, the teacher being ifp-demo's original weights (--model-bin) run dense without gradient.

Every run resumes from OUT/ckpt.pt when it exists (batches are a function of seed and step, so a resumed
run sees the same data). A progress line every --log-every steps: step, loss, tokens/s, ETA; OUT/log.jsonl
holds the same rows plus the held-out evaluations (every --eval-every steps and at the end).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifp import BOS, Predictor, entry_distances, load_checkpoint, load_json, make_masks, neurons_at, permute_neurons, read_llama2c, shrink_ffn  # noqa: E402

DOMAINS = ['python', 'javascript', 'english', 'german', 'arithmetic', 'manpages']


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--stage', type=int, choices=[1, 2], required=True)
    ap.add_argument('--data', required=True, help='output of tools/train/prepare.ts')
    ap.add_argument('--out', required=True, help='checkpoint folder (resumed when it holds ckpt.pt)')
    ap.add_argument('--init', default='ifp-demo', help="'ifp-demo' (model.bin + the file's predictor) or a .pt of an earlier stage")
    ap.add_argument('--model-bin', default='../shared/models/ifp-demo/model.bin')
    ap.add_argument('--steps', type=int, required=True)
    ap.add_argument('--batch', type=int, default=2, help='stage 1: sequences per domain per step; stage 2: pairs per domain per step')
    ap.add_argument('--mix', default='', metavar='DOMAIN=N,...',
                    help='sequences (stage 2: pairs) per step for the domains named, e.g. python=3,javascript=3,german=1,arithmetic=1; '
                         'the others keep --batch')
    ap.add_argument('--seq', type=int, default=192, help='stage 1: tokens after BOS per sequence')
    ap.add_argument('--prompt-min', type=int, default=48)
    ap.add_argument('--prompt-max', type=int, default=128)
    ap.add_argument('--densities', default='0.25,0.5', help='each example trains at one of these (round robin)')
    ap.add_argument('--dense-ff', type=int, default=0, help='baseline: a dense model with this FFN width, no predictor')
    ap.add_argument('--shared', type=float, default=0.0, help='always-on fraction of each layer (top of the static ranking)')
    ap.add_argument('--lr', type=float, default=5e-4, help="the LLM's peak LR (warm-up, then cosine to --min-lr-frac of it)")
    ap.add_argument('--distill', type=float, default=0.0, metavar='ALPHA',
                    help='loss = ALPHA·KL(teacher ‖ student) + (1 − ALPHA)·CE over the scored positions; the teacher is '
                         "--model-bin (ifp-demo's original weights) run dense, no gradient, on the same input; 0 = CE only")
    ap.add_argument('--pred-lr', type=float, default=1e-3)
    ap.add_argument('--pred-hidden', type=int, default=0, help="widen the predictor to this many hidden units (a fresh run from 'ifp-demo'; 0: the file's, 256)")
    ap.add_argument('--pred-kind', default='deepsets-mlp', choices=['deepsets-mlp', 'conv-mlp', 'attn-mlp'],
                    help="the predictor's network (a fresh run from 'ifp-demo'; the order-aware kinds start as its deepsets predictor)")
    ap.add_argument('--codebook', type=int, default=0, metavar='C',
                    help="train with a score codebook of C entries (export.py --codebook), fitted to the starting predictor: the "
                         'masks come from the entry nearest the predictor\'s scores; the entries train with the LLM, the network '
                         'that picks them does not (no gradient through the choice; see --moe)')
    ap.add_argument('--moe', type=int, default=0, metavar='M',
                    help='with a codebook (--codebook, or an --init checkpoint that has one): train the entry choice on the loss, '
                         'mixture-of-experts style: each example runs under its M nearest entries and the loss is their '
                         'mean weighted by softmax(−(d − d_nearest)/(D·--moe-temp)) (d the squared distance, D = layers · n_ff), '
                         'so the network learns which entry a prompt should pick. Inference still takes the nearest entry '
                         '(the file does not change); a step costs about M steps. 0 = off')
    ap.add_argument('--moe-temp', type=float, default=0.02,
                    help="--moe's softmax temperature per dimension (0.02: the median gap between a prompt's nearest two entries "
                         'is about 0.018, so the nearest gets ~0.7 of the weight there)')
    ap.add_argument('--min-lr-frac', type=float, default=0.1)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--t-start', type=float, default=1.0, help='SoftTopK temperature at step 0 (geometric to --t-end)')
    ap.add_argument('--t-end', type=float, default=0.1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--log-every', type=int, default=25)
    ap.add_argument('--eval-every', type=int, default=300)
    ap.add_argument('--save-every', type=int, default=100)
    ap.add_argument('--val-per-domain', type=int, default=30)
    ap.add_argument('--bf16', type=int, default=1, help='bf16 autocast for the matmuls (fp32 master weights)')
    a = ap.parse_args()
    if not 0.0 <= a.distill <= 1.0:
        ap.error(f'--distill {a.distill}: ALPHA is a weight in [0, 1] (0.9 keeps 10% of the cross-entropy)')
    try:
        a.per_domain = {d: a.batch for d in DOMAINS}
        for item in filter(None, a.mix.split(',')):
            d, n = item.split('=')
            if d not in a.per_domain or int(n) < 0:
                raise ValueError(item)
            a.per_domain[d] = int(n)
    except ValueError as e:
        ap.error(f'--mix {a.mix!r}: expected DOMAIN=N pairs, N ≥ 0, the domains {", ".join(DOMAINS)} ({e})')
    if sum(a.per_domain.values()) == 0:
        ap.error('--mix: no sequences left in a batch')
    if a.moe < 0 or a.moe == 1:
        ap.error(f'--moe {a.moe}: M is the number of nearest entries each example runs under, at least 2 (0 = off)')
    if a.moe and a.dense_ff:
        ap.error('--moe trains the choice between codebook entries; a --dense-ff baseline has no predictor')
    if not a.moe_temp > 0:
        ap.error(f'--moe-temp {a.moe_temp}: the temperature must be positive')
    return a


# ---------------------------------------------------------------------------------------------------
# data

def load_streams(data):
    return {d: np.fromfile(os.path.join(data, f'{d}.train.u16'), dtype=np.uint16) for d in DOMAINS}


def load_pairs(data):
    """Calibration pairs by domain: (train, held out) = (i % 10 != 9, i % 10 == 9) per domain."""
    by = {d: [] for d in DOMAINS}
    with open(os.path.join(data, 'calib.jsonl')) as f:
        for line in f:
            ex = json.loads(line)
            by[ex['domain']].append(ex)
    train = {d: [x for i, x in enumerate(v) if i % 10 != 9] for d, v in by.items()}
    held = {d: [x for i, x in enumerate(v) if i % 10 == 9] for d, v in by.items()}
    return train, held


def batch_stage1(streams, rng, a):
    """BOS + a random window per sequence; prompt length uniform in [prompt-min, prompt-max]."""
    seqs, plens = [], []
    for d in DOMAINS:
        s = streams[d]
        for _ in range(a.per_domain[d]):
            o = int(rng.integers(0, len(s) - a.seq - 1))
            seqs.append(np.concatenate([[BOS], s[o:o + a.seq]]).astype(np.int64))
            plens.append(1 + int(rng.integers(a.prompt_min, a.prompt_max + 1)))
    return pad(seqs, plens)


def batch_stage2(pairs, rng, a):
    seqs, plens = [], []
    for d in DOMAINS:
        for i in rng.integers(0, len(pairs[d]), a.per_domain[d]):
            ex = pairs[d][int(i)]
            seqs.append(np.array(ex['full'], dtype=np.int64))
            plens.append(len(ex['prompt']))
    return pad(seqs, plens)


def pad(seqs, plens):
    """ids (B, T) zero-padded; plens (B) = |BOS + prompt|; lens (B)."""
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.from_numpy(s)
    return ids, torch.tensor(plens), torch.tensor([len(s) for s in seqs])


def prompt_only(ids, plens):
    """(B, P) the prompts of ids (B, T), P = the longest, zero after each |BOS + prompt| = plens."""
    P = int(plens.max())
    return ids[:, :P] * (torch.arange(P)[None] < plens[:, None])


@torch.no_grad()
def prompt_scores(pred, prompts, batch=100):
    """(N, L, n_ff) the predictor's network scores (no codebook) for N prompts (BOS + ids each)."""
    out = []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i:i + batch]
        ids, plens, _ = pad([np.array(p, dtype=np.int64) for p in chunk], [len(p) for p in chunk])
        out.append(pred(ids, plens))
    return torch.cat(out)


def response_loss_mask(plens, lens, T):
    """(B, T-1): position p predicts ids[p+1]; scored p = P-1 .. N-2 (the eval protocol's positions)."""
    pos = torch.arange(T - 1)[None, :]
    return ((pos >= plens[:, None] - 1) & (pos <= lens[:, None] - 2)).float()


def distill_kl(lg, lg_t, lm):
    """KL(teacher ‖ student) at temperature 1, (B, T-1, V) logits, averaged over the scored positions lm (B, T-1)
    (lm may carry per-row weights: --moe)."""
    lp_s = F.log_softmax(lg.float(), -1)
    lp_t = F.log_softmax(lg_t.float(), -1)
    kl = (lp_t.exp() * (lp_t - lp_s)).sum(-1)
    return (kl * lm).sum() / lm.sum()


def moe_entries(pred, prompts, plens, M, temp):
    """--moe: (B·M,) entry indices (each row's M nearest, nearest first) and (B·M,) weights summing to 1 per
    row, softmax(−(d − d_nearest)/(D·temp)); differentiable in the network's scores through d."""
    d = entry_distances(pred(prompts, plens), pred.codebook)  # (B, C)
    dm, cm = d.topk(M, dim=1, largest=False)
    w = torch.softmax(-(dm - dm[:, :1].detach()) / (pred.codebook[0].numel() * temp), dim=1)
    return cm.reshape(-1), w.reshape(-1)


def densities_for(B, dens):
    return torch.tensor([dens[i % len(dens)] for i in range(B)])


# ---------------------------------------------------------------------------------------------------
# model state

def build(a, init):
    """(model, predictor or None, shared mask or None) for a fresh run."""
    if a.init == 'ifp-demo':
        model = read_llama2c(a.model_bin)
        permute_neurons(model, init['perm'])  # bundle-row order of the calibrated file
        pred = Predictor.from_files(os.path.join(a.data, 'init'), init['pred'])
        if a.pred_hidden:
            pred = pred.widened(a.pred_hidden, a.seed)
        if a.pred_kind != 'deepsets-mlp':
            pred = pred.with_order(a.pred_kind, a.seed)
    else:
        model, pred, _ = load_checkpoint(a.init)
    if a.codebook and pred is not None:
        from export import add_codebook
        add_codebook(pred, a.data, a.codebook)  # fitted to this predictor; then trained with the LLM
    static = torch.tensor(init['static'])  # (L, n_ff) in bundle rows
    if a.dense_ff:
        if model.cfg.hidden != a.dense_ff:
            keep = [torch.topk(static[l], a.dense_ff).indices.sort().values.tolist() for l in range(model.cfg.n_layers)]
            model = shrink_ffn(model, keep)
        pred = None
    shared = None
    if a.shared > 0 and pred is not None:
        nsh = neurons_at(a.shared, model.cfg.hidden)
        shared = torch.zeros_like(static, dtype=torch.bool)
        for l in range(static.shape[0]):
            shared[l, torch.topk(static[l], nsh).indices] = True
    return model, pred, shared


def optimizer(a, model, pred):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [{'params': decay, 'weight_decay': 0.1, 'lr': a.lr, 'base': a.lr}, {'params': no_decay, 'weight_decay': 0.0, 'lr': a.lr, 'base': a.lr}]
    if pred is not None:
        groups.append({'params': list(pred.parameters()), 'weight_decay': 0.0, 'lr': a.pred_lr, 'base': a.pred_lr})
    return torch.optim.AdamW(groups, betas=(0.9, 0.95))


def lr_factor(step, a):
    if step < a.warmup:
        return (step + 1) / a.warmup
    frac = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


def temperature(step, a):
    return a.t_start * (a.t_end / a.t_start) ** min(1.0, step / max(1, a.steps - 1))


def save(path, model, pred, opt, step, a, extra=None):
    ck = {'model': model.state_dict(), 'config': model.cfg.to_dict(), 'pred': pred.state_dict() if pred is not None else None,
          'pred_shape': pred.shape if pred is not None else None, 'opt': opt.state_dict() if opt is not None else None,
          'step': step, 'args': vars(a), **(extra or {})}
    torch.save(ck, path + '.tmp')
    os.replace(path + '.tmp', path)


# ---------------------------------------------------------------------------------------------------
# held-out evaluation (calibration pairs never trained on): response NLL dense and masked (prompt too)

@torch.no_grad()
def evaluate(model, pred, shared, held, a):
    model.eval()
    out = {}
    dens = [float(x) for x in a.densities.split(',')]
    for d in DOMAINS:
        exs = held[d][:a.val_per_domain]
        ids, plens, lens = pad([np.array(x['full'], dtype=np.int64) for x in exs], [len(x['prompt']) for x in exs])
        lm = response_loss_mask(plens, lens, ids.shape[1])
        tgt = ids[:, 1:]

        def nll(masks):
            lg = model(ids[:, :-1], masks)
            ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1), reduction='none').view(tgt.shape)
            return ((ce * lm).sum() / lm.sum()).item()

        row = {'dense': nll(None)}
        if pred is not None:
            s = pred.infer(prompt_only(ids, plens), plens)
            for de in dens:
                k = torch.full((len(exs),), neurons_at(de, model.cfg.hidden))
                row[f'learned@{de}'] = nll(make_masks(s, k, 1.0, shared, straight_through=False))
        out[d] = row
    model.train()
    return out


# ---------------------------------------------------------------------------------------------------

def main():
    a = parse()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    init = load_json(os.path.join(a.data, 'init.json'))
    ckpt = os.path.join(a.out, 'ckpt.pt')
    model, pred, shared = build(a, init)
    if a.moe and (pred is None or pred.codebook is None):
        sys.exit('train.py: --moe needs a codebook: add --codebook C, or --init a checkpoint trained with one')
    if a.moe and pred.route is not None:
        sys.exit('train.py: --moe trains the entry choice itself; --init a checkpoint without a route (before route.py)')
    opt = optimizer(a, model, pred)
    teacher = None
    if a.distill > 0:
        teacher = read_llama2c(a.model_bin).eval()  # neuron order does not change a dense model's logits
        teacher.requires_grad_(False)
    step = 0
    if os.path.exists(ckpt):
        ck = torch.load(ckpt, weights_only=False)
        model.load_state_dict(ck['model'])
        if pred is not None:
            pred.load_state_dict(ck['pred'])
        opt.load_state_dict(ck['opt'])
        step = ck['step']
        print(f'resumed {ckpt} at step {step}', flush=True)
    streams = load_streams(a.data) if a.stage == 1 else None
    train_pairs, held = load_pairs(a.data)
    dens = [float(x) for x in a.densities.split(',')]
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    nff = model.cfg.hidden
    t_run, tok_run, loss_acc, n_acc = time.time(), 0, 0.0, 0
    ce_acc, kl_acc, w1_acc, used = 0.0, 0.0, 0.0, set()
    print(f'stage {a.stage}: {"dense n_ff %d baseline" % nff if pred is None else "joint, densities %s" % a.densities}, steps {step}..{a.steps}', flush=True)
    if step == 0:
        ev = evaluate(model, pred, shared, held, a)
        log.write(json.dumps({'eval': ev, 'step': 0, 'tokens': 0}) + '\n')
        log.flush()
        print('eval step 0 ' + ' '.join(f'{d}:{"/".join("%.3f" % v for v in r.values())}' for d, r in ev.items()), flush=True)
    tokens_total = 0
    while step < a.steps:
        rng = np.random.default_rng([a.seed, a.stage, step])
        ids, plens, lens = batch_stage1(streams, rng, a) if a.stage == 1 else batch_stage2(train_pairs, rng, a)
        B, T = ids.shape
        lm = response_loss_mask(plens, lens, T)
        f = lr_factor(step, a)
        for g in opt.param_groups:
            g['lr'] = g['base'] * f
        t = temperature(step, a)
        # the predictor, its entry choice and the masks in fp32, as the runtime computes them: in bf16 the
        # nearest codebook entry differed from fp32's for 12% of the training prompts (docs/training.md)
        masks, rows = None, ids
        if pred is not None:
            k = torch.tensor([neurons_at(x, nff) for x in densities_for(B, dens).tolist()])
            if a.moe:  # every example under its M nearest entries, one batch of B·M rows
                ent, w = moe_entries(pred, prompt_only(ids, plens), plens, a.moe, a.moe_temp)
                s, k, rows = pred.codebook[ent], k.repeat_interleave(a.moe), ids.repeat_interleave(a.moe, 0)
                lm = lm.repeat_interleave(a.moe, 0) * w[:, None]  # Σ over a row's M copies = the row's weight
                w1_acc += w.view(B, a.moe)[:, 0].mean().item()
                used.update(ent.view(B, a.moe)[:, 0].tolist())
            else:
                s = pred.infer(prompt_only(ids, plens), plens)
            masks = make_masks(s.float(), k, t, shared)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(a.bf16)):
            lg = model(rows[:, :-1], masks)
            if teacher is not None:
                with torch.no_grad():
                    lg_t = teacher(ids[:, :-1])
                if rows is not ids:
                    lg_t = lg_t.repeat_interleave(a.moe, 0)
        ce = F.cross_entropy(lg.float().reshape(-1, lg.shape[-1]), rows[:, 1:].reshape(-1), reduction='none').view(rows.shape[0], T - 1)
        ce = (ce * lm).sum() / lm.sum()
        loss, kl = ce, torch.zeros(())
        if teacher is not None:
            kl = distill_kl(lg, lg_t, lm)
            loss = a.distill * kl + (1 - a.distill) * ce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = list(model.parameters()) + (list(pred.parameters()) if pred is not None else [])
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        n_tok = int((torch.arange(T)[None] < lens[:, None]).sum())
        tok_run += n_tok
        tokens_total += n_tok
        loss_acc += loss.item()
        ce_acc += ce.item()
        kl_acc += kl.item()
        n_acc += 1
        if step % a.log_every == 0 or step == a.steps:
            el = time.time() - t_run
            tps = tok_run / max(el, 1e-9)
            eta = (a.steps - step) * el / max(1, n_acc)
            row = {'step': step, 'loss': loss_acc / n_acc, 'ce': ce_acc / n_acc, 'kl': kl_acc / n_acc, 'tokens_per_s': tps,
                   'lr': opt.param_groups[0]['lr'], 't': t, 'time': time.time()}
            kd = f' (ce {row["ce"]:.4f} kl {row["kl"]:.4f})' if teacher is not None else ''
            moe = ''
            if a.moe:  # the nearest entry's mean weight, and how many entries were nearest to some example
                row.update(moe_w1=w1_acc / n_acc, moe_entries=len(used))
                moe = f' w1 {row["moe_w1"]:.2f} entries {len(used)}'
            print(f'step {step}/{a.steps} loss {row["loss"]:.4f}{kd}{moe} tok/s {tps:.0f} lr {row["lr"]:.2e} t {t:.3f} ETA {int(eta // 60)}m{int(eta % 60):02d}s', flush=True)
            log.write(json.dumps(row) + '\n')
            log.flush()
            t_run, tok_run, loss_acc, n_acc = time.time(), 0, 0.0, 0
            ce_acc, kl_acc, w1_acc, used = 0.0, 0.0, 0.0, set()
        if step % a.save_every == 0 or step == a.steps:
            save(ckpt, model, pred, opt, step, a)
        if step % a.eval_every == 0 or step == a.steps:
            ev = evaluate(model, pred, shared, held, a)
            log.write(json.dumps({'eval': ev, 'step': step}) + '\n')
            log.flush()
            print(f'eval step {step} ' + ' '.join(f'{d}:{"/".join("%.3f" % v for v in r.values())}' for d, r in ev.items()), flush=True)
    save(os.path.join(a.out, 'final.pt'), model, pred, None, step, a, {'shared': shared, 'densities': dens})
    print(f'wrote {os.path.join(a.out, "final.pt")}', flush=True)


if __name__ == '__main__':
    main()
