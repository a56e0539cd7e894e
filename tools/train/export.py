"""Export a trained checkpoint for tools/train/export.ts (docs/training.md, "Export"):

  python3 tools/train/export.py --ckpt /tmp/ifp-train/joint2/final.pt --data /tmp/ifp-train/data --out /tmp/ifp-train/export-joint

writes OUT/model.bin (llama2.c v0, f32, FFN rows in bundle order), and for a joint model the predictor
OUT/pred.<E|W1|b1|W2|b2>.f32 already rounded to the precision the ifprune file stores (E, W1 F16; W2 Q8_0),
with --codebook C (or a codebook trained with the model) also OUT/pred.codebook.f32 (C × L·n_ff; stored F32)
and, after tools/train/route.py, the entry route in meta.json,
so PyTorch and the runtime run the same numbers, plus OUT/meta.json: the predictor shape, the training
densities, the always-on neurons, and the static ranking (mean |h| over the calibration pairs, each
domain weighted equally, as `ifprune calibrate` computes it) for the static policy.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ifp import fit_codebook, load_checkpoint, round_predictor_to_storage, write_llama2c  # noqa: E402


@torch.no_grad()
def add_codebook(pred, data, C, batch=100):
    """Fits pred's codebook (C entries) to its scores on the training calibration prompts (train.py's
    split: i % 10 != 9 per domain, all domains together); stored as F32, unrounded."""
    from train import load_pairs, prompt_scores
    train, _ = load_pairs(data)
    pred.set_codebook(fit_codebook(prompt_scores(pred, [x['prompt'] for v in train.values() for x in v], batch), C))
    return pred


@torch.no_grad()
def static_ranking(model, data, per_domain=300):
    """Per layer, mean over domains of (Σ |h| over positions 1..N-1 of the pairs / positions)."""
    by = {}
    with open(os.path.join(data, 'calib.jsonl')) as f:
        for line in f:
            ex = json.loads(line)
            by.setdefault(ex['domain'], []).append(ex['full'])
    L, nff = model.cfg.n_layers, model.cfg.hidden
    total = torch.zeros(L, nff, dtype=torch.float64)
    for d, seqs in by.items():
        acc = torch.zeros(L, nff, dtype=torch.float64)
        n = 0
        for s in seqs[:per_domain]:
            ids = torch.tensor([s])

            def obs(l, h):
                acc[l] += h[0, 1:].abs().sum(0).double()
            model(ids, None, obs)
            n += len(s) - 1
        total += acc / n / len(by)
    return total.float()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--codebook', type=int, default=0, metavar='C',
                    help="snap the predictor's scores to the nearest of C score vectors fitted (k-means) to its scores on the "
                         'training calibration prompts (docs/training.md, "The score codebook"); 0: none, or the codebook the '
                         'checkpoint was trained with (train.py --codebook)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    model, pred, ck = load_checkpoint(a.ckpt)
    model.eval()
    write_llama2c(model, os.path.join(a.out, 'model.bin'))
    meta = {'config': model.cfg.to_dict(), 'args': ck.get('args'), 'steps': ck.get('step')}
    if pred is not None:
        round_predictor_to_storage(pred)  # a trained codebook (train.py --codebook) is kept unless --codebook refits it
        if a.codebook:
            add_codebook(pred, a.data, a.codebook)
        if pred.codebook is not None:
            pred.codebook.detach().float().numpy().astype(np.float32).tofile(os.path.join(a.out, 'pred.codebook.f32'))
        for k in ['E', 'W1', 'b1', 'W2', 'b2']:
            getattr(pred, k).detach().float().numpy().astype(np.float32).tofile(os.path.join(a.out, f'pred.{k}.f32'))
        meta['pred'] = pred.shape
        if pred.route is not None:  # tools/train/route.py
            meta['route'] = pred.route.tolist()
        meta['densities'] = ck.get('densities')
        shared = ck.get('shared')
        meta['shared'] = [torch.nonzero(shared[l]).flatten().tolist() for l in range(shared.shape[0])] if shared is not None else None
        meta['static'] = static_ranking(model, a.data).tolist()
    with open(os.path.join(a.out, 'meta.json'), 'w') as f:
        json.dump(meta, f)
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
