"""Writes the tiny exported model that test/train-export.test.ts checks the runtime against PyTorch on:

  python3 tools/train/make_fixture.py        (then commit tools/train/fixtures/)

  python3 tools/train/make_fixture.py --codebook 4   (tiny-joint-codebook.*: the same model and
                                                     predictor with a 4-entry score codebook and a
                                                     route: entry c > 0 gives entry c + 1's scores)

A random 2-layer Llama (dim 32, n_ff 64, vocab 2048 with ifp-demo's tokenizer) and a random deepsets-mlp
predictor (H 16, U 32, window 4) with 2 always-on neurons per layer go through the real export path
(model.bin + pred.*.f32 + meta.json → tools/train/export.ts → an F32 bundled ifprune file: F16 bundles
cannot be loaded selectively, and Q8_0 would quantize the activations too), with the rows reordered for the
predictor (export.ts --reorder: ifprune.perm.N; the expected values are in PyTorch's neuron order, the test
maps them through it). The predictor is rounded to its stored precision first (E, W1 F16; W2 Q8_0), so
both sides run the same numbers.
tiny-joint.expected.json holds, per prompt and density, what PyTorch computes: the predictor's scores, the
selected neurons per layer, the NLL of every next token of prompt + response with the FFN masked at every
position (the prompt too, as generation runs), the 16 largest logits at the last position, and 6 greedy tokens.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from ifp import Config, Llama, Predictor, fit_codebook, make_masks, nearest_entry, neurons_at, round_predictor_to_storage, write_llama2c  # noqa: E402

TOKENIZER = os.path.join(ROOT, 'test/fixtures/ifp-demo-tokenizer.bin')
OUT = os.path.join(HERE, 'fixtures')
PAIRS = [
    ('def read_config(path):\n    """Read a configuration file."""\n', '    with open(path) as f:\n'),
    ('Es war einmal ein König, der', ' hatte drei Töchter.'),
    ('Q: 23+58 A:', ' 81'),
]
DENSITIES = [0.25, 0.5]
SHARED = [[3, 40], [0, 63]]


def encode(texts):
    r = subprocess.run(['node', '--import', 'tsx', 'tools/train/encode.ts', TOKENIZER, '2048'], input=json.dumps(texts), capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(r.stdout)


def main():
    codebook = int(sys.argv[sys.argv.index('--codebook') + 1]) if '--codebook' in sys.argv else 0
    name = 'tiny-joint-codebook' if codebook else 'tiny-joint'
    torch.manual_seed(7)
    cfg = Config(dim=32, hidden=64, n_layers=2, n_heads=2, n_kv_heads=1, vocab=2048, seq_len=64)
    model = Llama(cfg).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn_like(p) * (0.5 if 'tok_embeddings' in n else 0.25))
            else:
                p.copy_(1 + 0.1 * torch.randn_like(p))  # norms
    pred = Predictor(cfg.vocab, cfg.n_layers, cfg.hidden, token_dim=16, hidden=32, window=4)
    with torch.no_grad():
        pred.E.normal_(0, 1)
        pred.W1.normal_(0, (2 / 32) ** 0.5)
        pred.b1.normal_(0, 0.1)
        pred.W2.normal_(0, (1 / 32) ** 0.5)
        pred.b2.normal_(0, 0.1)
    round_predictor_to_storage(pred)
    # random prompts (3..20 tokens): the codebook is fitted to their scores (so that the cases below pick
    # different entries), and export.ts --reorder orders the rows by the predictor's selections of them
    g = torch.Generator().manual_seed(11)
    rlens = torch.randint(3, 21, (64,), generator=g)
    rids = torch.randint(3, cfg.vocab, (64, 21), generator=g) * (torch.arange(21)[None] < rlens[:, None])
    rids[:, 0] = 1
    if codebook:
        with torch.no_grad():
            pred.set_codebook(fit_codebook(pred(rids, rlens), codebook))
        # a route (tools/train/route.py), not a permutation: entry 0 keeps its scores, c > 0 gives c + 1's
        pred.route = torch.tensor([0] + [(c + 1) % codebook for c in range(1, codebook)])
    shared = torch.zeros(cfg.n_layers, cfg.hidden, dtype=torch.bool)
    for l, ids in enumerate(SHARED):
        shared[l, ids] = True

    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_llama2c(model, os.path.join(tmp, 'model.bin'))
        for k in ['E', 'W1', 'b1', 'W2', 'b2'] + (['codebook'] if codebook else []):
            getattr(pred, k).detach().numpy().astype(np.float32).tofile(os.path.join(tmp, f'pred.{k}.f32'))
        static = torch.rand(cfg.n_layers, cfg.hidden)
        with open(os.path.join(tmp, 'meta.json'), 'w') as f:
            meta = {'config': cfg.to_dict(), 'pred': pred.shape, 'densities': DENSITIES, 'shared': SHARED, 'static': static.tolist(), 'steps': 0}
            if pred.route is not None:
                meta['route'] = pred.route.tolist()
            json.dump(meta, f)
        with open(os.path.join(tmp, 'prompts.jsonl'), 'w') as f:
            for row, n in zip(rids.tolist(), rlens.tolist()):
                f.write(json.dumps({'prompt': row[:n]}) + '\n')
        subprocess.run(['node', '--import', 'tsx', 'tools/train/export.ts', '--dir', tmp, '--type', 'f32', '--tokenizer', TOKENIZER,
                        '--name', name, '--reorder', os.path.join(tmp, 'prompts.jsonl'), '-o', os.path.join(OUT, f'{name}.gguf')],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    ids = encode([p for p, _ in PAIRS] + [p + r for p, r in PAIRS])
    cases = []
    with torch.no_grad():
        for i, (prompt, response) in enumerate(PAIRS):
            pids, full = ids[i], ids[len(PAIRS) + i]
            s = pred.infer(torch.tensor([pids]), torch.tensor([len(pids)]))  # (1, L, n_ff)
            case = {'prompt': prompt, 'response': response, 'promptIds': pids, 'ids': full, 'scores': s[0].flatten().tolist(), 'densities': {}}
            if codebook:
                case['entry'] = int(nearest_entry(pred(torch.tensor([pids]), torch.tensor([len(pids)])), pred.codebook)[0])
                case['routedTo'] = int(pred.route[case['entry']])
            for d in DENSITIES:
                k = torch.tensor([neurons_at(d, cfg.hidden)])
                m = make_masks(s, k, 1.0, shared, straight_through=False)
                x = torch.tensor([full])
                lg = model(x[:, :-1], m)[0]
                nll = F.cross_entropy(lg, x[0, 1:], reduction='none')
                greedy, seq = [], list(pids)
                for _ in range(6):
                    nxt = int(model(torch.tensor([seq]), m)[0, -1].argmax())
                    greedy.append(nxt)
                    seq.append(nxt)
                case['densities'][str(d)] = {
                    'neurons': [torch.nonzero(m[0, l]).flatten().tolist() for l in range(cfg.n_layers)],
                    'nll': nll.tolist(),
                    'lastTop': [[int(j), float(lg[-1, j])] for j in lg[-1].topk(16).indices],
                    'greedy': greedy,
                }
            cases.append(case)
    with open(os.path.join(OUT, f'{name}.expected.json'), 'w') as f:
        json.dump({'note': 'written by tools/train/make_fixture.py (PyTorch fp32)', 'densities': DENSITIES, 'shared': SHARED, 'cases': cases}, f)
    print(f'wrote {OUT}/{name}.gguf and {name}.expected.json' + (f'; codebook entries {[c["entry"] for c in cases]}' if codebook else ''))


if __name__ == '__main__':
    main()
