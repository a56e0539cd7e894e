"""Markdown tables from `ifprune eval --json` results, as docs/training.md shows them: every row's
perplexity relative to a REFERENCE model's dense perplexity on the same domain (ifp-demo's, the issue's
yardstick), not to the evaluated model's own dense.

  python3 tools/train/table.py --ref ifp-demo.json NAME=result.json [NAME=result.json ...]

Each result file is the last line of `ifprune eval --json` (the {"event": "result"} object) or the whole
output (the last line is used).
"""
import argparse
import json
import math

ORDER = ['dense', 'static', 'prompt', 'learned', 'oracle', 'random']


def load(path):
    with open(path) as f:
        return json.loads(f.read().strip().split('\n')[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ref', required=True)
    ap.add_argument('runs', nargs='+')
    a = ap.parse_args()
    ref = load(a.ref)
    domains = list(ref['domains'])
    ref_nll = {r['domain']: r['nll'] for r in ref['rows'] if r['policy'] == 'dense'}
    cols = []
    for spec in a.runs:
        name, path = spec.split('=', 1)
        res = load(path)
        rows = {(r['domain'], r['policy'], r['density']): r for r in res['rows']}
        keys = sorted({(p, d) for (_, p, d) in rows}, key=lambda k: (ORDER.index(k[0]), k[1]))
        for p, d in keys:
            label = f'{name} {p}' + ('' if p == 'dense' else f' {d:g}')
            cols.append((label, {dom: rows.get((dom, p, d)) for dom in domains}))
    print('| domain | ifp-demo dense ppl | ' + ' | '.join(c[0] for c in cols) + ' |')
    print('|---|---|' + '---|' * len(cols))
    for dom in domains:
        cells = []
        for _, by in cols:
            r = by.get(dom)
            cells.append('-' if r is None else f'{math.exp(r["nll"] - ref_nll[dom]):.2f}×')
        print(f'| {dom} | {math.exp(ref_nll[dom]):.2f} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
