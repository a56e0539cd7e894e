"""Routing by the loss (docs/training.md, "Routing by the loss"): which codebook entry's neurons a prompt gets.

A codebook model's predictor picks, per prompt, the entry nearest its network's scores, but nothing in
training made that the entry whose neuron set gives the lowest loss. This step labels training
calibration pairs with the response NLL under every entry's neuron set (the LLM masked by the entry's
top-k at --density, the prompt too, as generation runs), and sets a route: for each entry c, the entry
whose set gives the lowest summed NLL over the labelled pairs whose nearest entry is c, when both halves
of those pairs agree (else c keeps its own). The network, the codebook and the LLM stay as they are; the
export writes the route as ifprune.pred.codebook_route and the runtime looks it up after the nearest
entry (no cost).

  python3 tools/train/route.py --ckpt W/cont3-cb24/final.pt --data W/data --out W/routed.pt
  python3 tools/train/export.py --ckpt W/routed.pt --data W/data --out W/export-routed

Labels cost C forward passes per pair (24 × 300 pairs × 6 domains at the defaults: about 15 minutes in
two processes, --shard 1/2 and --shard 2/2, then once without --shard) and are kept in
OUT.labels.jsonl (a shard's in OUT.labels.jsonl.K): a rerun labels only what is missing, so an
interrupted run resumes. Never reads ../shared/eval.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifp import load_checkpoint, make_masks, nearest_entry, neurons_at, round_predictor_to_storage  # noqa: E402
from train import DOMAINS, load_pairs, pad, prompt_only, response_loss_mask  # noqa: E402


def pick_pairs(data, per_domain):
    """per_domain training calibration pairs of each domain, spread over the split (train.py's i % 10 != 9)."""
    train, _ = load_pairs(data)
    out = []
    for d in DOMAINS:
        v = train[d]
        idx = np.unique(np.linspace(0, len(v) - 1, min(per_domain, len(v))).round().astype(int))
        out += [v[i] for i in idx]
    return out


@torch.no_grad()
def label(model, pred, shared, pairs, density, path, shard, batch=40):
    """Appends {"id", "domain", "density", "entry": the nearest, "ntok", "nll": [per entry]} for the pairs of
    this shard not yet labelled (in any of the label files) to this shard's file. Labels belong to one
    checkpoint and density: another needs another --out."""
    old = read_labels(path)
    if any(r.get('density', density) != density for r in old):
        sys.exit(f'{path}: its labels were measured at another density than {density}; give another --out')
    done = {r['id'] for r in old}
    k_of, n_of = (int(x) for x in shard.split('/'))
    if not (1 <= k_of <= n_of):
        sys.exit(f'--shard {shard}: expected K/N with 1 <= K <= N')
    if n_of > 1:
        path = f'{path}.{k_of}'
    todo = [x for i, x in enumerate(pairs) if i % n_of == k_of - 1 and x['id'] not in done]
    cb = pred.codebook.detach()
    t0 = time.time()
    with open(path, 'a') as f:
        for i in range(0, len(todo), batch):
            chunk = todo[i:i + batch]
            ids, plens, lens = pad([np.array(x['full'], dtype=np.int64) for x in chunk], [len(x['prompt']) for x in chunk])
            lm = response_loss_mask(plens, lens, ids.shape[1])
            tgt = ids[:, 1:]
            k = torch.full((len(chunk),), neurons_at(density, model.cfg.hidden))
            cols = []
            for c in range(len(cb)):
                lg = model(ids[:, :-1], make_masks(cb[c][None].expand(len(chunk), -1, -1), k, 1.0, shared, straight_through=False))
                ce = torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1), reduction='none').view(tgt.shape)
                cols.append((ce * lm).sum(1))
            nll = torch.stack(cols, 1)
            entry = nearest_entry(pred(prompt_only(ids, plens), plens), pred.codebook)  # the runtime's pick, before any route
            for j, x in enumerate(chunk):
                f.write(json.dumps({'id': x['id'], 'domain': x['domain'], 'density': density, 'entry': int(entry[j]), 'ntok': lm[j].sum().item(),
                                    'nll': nll[j].tolist()}) + '\n')
            f.flush()
            n = i + len(chunk)
            el = time.time() - t0
            print(f'label {n}/{len(todo)} pairs ({len(cb)} entries each) ETA {el / n * (len(todo) - n) / 60:.1f}m', flush=True)


def read_labels(path):
    """The rows of path and of its shards' files (path.K)."""
    rows = []
    for p in [path] + sorted(glob.glob(glob.escape(path) + '.*')):
        if os.path.exists(p):
            with open(p) as f:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows


def fit_route(labels, C):
    """route (C,): for each entry c, the entry whose neuron set gives the lowest summed response NLL over
    the labelled pairs routed to c, kept only when both halves of those pairs (alternate pairs) pick the
    same entry; otherwise c itself. Prints each change with its pairs, domains and gain."""
    route = list(range(C))
    for c in range(C):
        rows = [r for r in labels if r['entry'] == c]
        if not rows:
            continue
        nll = np.array([r['nll'] for r in rows])
        best = int(nll.sum(0).argmin())
        halves = [int(nll[h::2].sum(0).argmin()) for h in (0, 1)] if len(rows) >= 2 else [c, c]
        if best == c or halves != [best, best]:
            continue
        route[c] = best
        ntok = sum(r['ntok'] for r in rows)
        doms = {}
        for r in rows:
            doms[r['domain']] = doms.get(r['domain'], 0) + 1
        gain = (nll[:, c].sum() - nll[:, best].sum()) / ntok
        print(f'route: entry {c} -> {best}: {len(rows)} pairs ({", ".join(f"{d} {n}" for d, n in sorted(doms.items()))}), '
              f'{gain:.4f} nats per response token lower on them', flush=True)
    return route


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True, help='a train.py checkpoint with a score codebook')
    ap.add_argument('--data', required=True, help='the training data folder (prepare.ts)')
    ap.add_argument('--out', required=True, help='the checkpoint to write (labels: OUT.labels.jsonl)')
    ap.add_argument('--per-domain', type=int, default=300, help='training calibration pairs labelled per domain (default 300)')
    ap.add_argument('--density', type=float, default=0.25, help='the density the labels are measured at (default 0.25)')
    ap.add_argument('--shard', default='1/1', metavar='K/N', help='label only every N-th pair from the K-th, then stop '
                    '(run N of them in parallel, then once more without --shard to fit)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, pred, ck = load_checkpoint(a.ckpt)
    if pred is None or pred.codebook is None:
        sys.exit(f'{a.ckpt} has no score codebook: routing by the loss refits the choice among codebook entries (train.py --codebook C)')
    model.eval()
    round_predictor_to_storage(pred)  # the precision the file stores, so 'entry' is the runtime's pick (the checkpoint keeps its own)
    pairs = pick_pairs(a.data, a.per_domain)
    path = a.out + '.labels.jsonl'
    label(model, pred, ck.get('shared'), pairs, a.density, path, a.shard)
    if a.shard != '1/1':
        return
    ids = {x['id'] for x in pairs}
    labels = [r for r in read_labels(path) if r['id'] in ids]
    ck['route'] = fit_route(labels, len(pred.codebook))
    ck['routed'] = {'from': a.ckpt, 'pairs': len(labels), 'density': a.density}
    print(f'route: {sum(e != c for c, e in enumerate(ck["route"]))} of {len(pred.codebook)} entries rerouted ({len(labels)} labelled pairs)')
    torch.save(ck, a.out + '.tmp')
    os.replace(a.out + '.tmp', a.out)
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
