"""Scores checkpoints in PyTorch with `ifprune eval`'s default protocol (docs/training.md): response NLL
of prompt → response pairs, the FFN masked at every position (the prompt too) by the predictor's hard
top-k at each density, relative to a reference model's dense perplexity on the same pairs. A fast twin
of `ifprune eval --policy dense,learned` for comparing training runs before exporting them (f32 weights;
the exported Q8_0 file differs by its rounding).

  node --import tsx tools/train/tokenize.ts -o /tmp/ifp-score/eval.jsonl ../shared/eval/{python,...}.jsonl
  python3 tools/train/score.py --pairs /tmp/ifp-score/eval.jsonl [--exclude ../shared/eval/in-train.json] \
      NAME=/tmp/ifp-train/RUN/final.pt ...
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifp import load_checkpoint, make_masks, neurons_at, read_llama2c, round_predictor_to_storage  # noqa: E402
from train import DOMAINS, pad, prompt_only, prompt_scores, response_loss_mask  # noqa: E402



def load(path):
    """(model, predictor at its stored precision or None, always-on mask or None)."""
    model, pred, ck = load_checkpoint(path)
    if pred is not None:
        round_predictor_to_storage(pred)
    return model.eval(), pred, ck.get('shared')


@torch.no_grad()
def nlls(model, pred, shared, exs, densities, batch=40, fixed=None, oracle=False):
    """{'dense': nats per response token, 'learned@d': ...} over exs (token-weighted, as ifprune eval).
    fixed (L, n_ff): also 'domain@d', every example masked by the top-k of these scores; oracle: also
    'oracle@d', each example's top-k of mean |h| over its scored positions in the dense pass (ifprune
    eval's oracle: it reads the response)."""
    tot = {}
    for i in range(0, len(exs), batch):
        chunk = exs[i:i + batch]
        ids, plens, lens = pad([np.array(x['full'], dtype=np.int64) for x in chunk], [len(x['prompt']) for x in chunk])
        lm = response_loss_mask(plens, lens, ids.shape[1])
        tgt = ids[:, 1:]

        def add(name, masks, observe=None):
            lg = model(ids[:, :-1], masks, observe)
            ce = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1), reduction='none').view(tgt.shape)
            s, n = tot.get(name, (0.0, 0.0))
            tot[name] = (s + (ce * lm).sum().item(), n + lm.sum().item())
        imp = []
        obs = None
        if oracle:
            w = lm / lm.sum(1, keepdim=True)
            obs = lambda l, h: imp.append((h.abs() * w[..., None]).sum(1))  # noqa: E731  (B, n_ff) per layer
        add('dense', None, obs)
        for d in densities:
            k = torch.full((len(chunk),), neurons_at(d, model.cfg.hidden))
            if oracle:
                add(f'oracle@{d}', make_masks(torch.stack(imp, 1), k, 1.0, None, straight_through=False))
            if fixed is not None:
                add(f'domain@{d}', make_masks(fixed[None].expand(len(chunk), -1, -1), k, 1.0, shared, straight_through=False))
        if pred is not None:
            sc = pred.infer(prompt_only(ids, plens), plens)
            for d in densities:
                k = torch.full((len(chunk),), neurons_at(d, model.cfg.hidden))
                add(f'learned@{d}', make_masks(sc, k, 1.0, shared, straight_through=False))
    return {k: s / n for k, (s, n) in tot.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--pairs', required=True, help='output of tokenize.ts')
    ap.add_argument('--ref', default='../shared/models/ifp-demo/model.bin', help='reference model (llama2.c), run dense')
    ap.add_argument('--exclude', help='in-train.json: {domain: [id, ...]} left out')
    ap.add_argument('--densities', default='0.25,0.5')
    ap.add_argument('--json', help='also write the results here')
    ap.add_argument('--domain-from', metavar='CALIB.jsonl', help="also 'domain@d': per domain one neuron set, the top-k of the predictor's "
                    "scores averaged over that domain's prompts in this file (train.py's calib.jsonl: training data)")
    ap.add_argument('--codebook', type=int, default=0, metavar='C', help="snap the predictor's scores to a codebook of C entries "
                    'fitted as export.py --codebook C does (needs --data)')
    ap.add_argument('--data', help='the training data folder (prepare.ts), for --codebook')
    ap.add_argument('--oracle', action='store_true', help="also 'oracle@d' (reads the response: an upper reference)")
    ap.add_argument('runs', nargs='+', help='NAME=checkpoint.pt')
    a = ap.parse_args()
    torch.set_num_threads(1)
    dens = [float(x) for x in a.densities.split(',')]
    drop = set()
    if a.exclude:
        for ids in json.load(open(a.exclude)).values():
            drop.update(ids)
    by = {d: [] for d in DOMAINS}
    for line in open(a.pairs):
        ex = json.loads(line)
        if ex['id'] not in drop:
            by[ex['domain']].append(ex)
    ref = read_llama2c(a.ref).eval()
    res = {'ref': {d: nlls(ref, None, None, by[d], dens)['dense'] for d in DOMAINS}}
    print('domain        ' + ' '.join(f'{d:>11}' for d in DOMAINS))
    print('ref dense ppl ' + ' '.join(f'{math.exp(res["ref"][d]):11.2f}' for d in DOMAINS), flush=True)
    for spec in a.runs:
        name, path = spec.split('=', 1)
        model, pred, shared = load(path)
        if a.codebook and pred is not None:
            from export import add_codebook
            add_codebook(pred, a.data, a.codebook)
        fixed = {d: None for d in DOMAINS}
        if a.domain_from and pred is not None:
            cal = {d: [] for d in DOMAINS}
            for line in open(a.domain_from):
                ex = json.loads(line)
                cal[ex['domain']].append(ex)
            fixed = {d: prompt_scores(pred, [x['prompt'] for x in cal[d]]).mean(0) for d in DOMAINS}  # one set per domain
        r = {d: nlls(model, pred, shared, by[d], dens, fixed=fixed[d], oracle=a.oracle) for d in DOMAINS}
        res[name] = r
        for key in r[DOMAINS[0]]:
            print(f'{name} {key}'.ljust(14) + ' ' + ' '.join(f'{math.exp(r[d][key] - res["ref"][d]):10.3f}x' for d in DOMAINS), flush=True)
    if a.json:
        json.dump(res, open(a.json, 'w'))


if __name__ == '__main__':
    main()
