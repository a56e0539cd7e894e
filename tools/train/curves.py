"""Training curves as one SVG (no plotting library): left, the training cross-entropy per logged step of each
run (with --distill the CE part of the loss, so distilled and plain runs compare);
right, the held-out response NLL (calibration pairs not trained on, mean over the six domains) of each run:
dense, and the learned predictor's masks at each density (prompt masked too).

  python3 tools/train/curves.py -o models/ifp-demo-joint/curves.svg \
      joint=/tmp/ifp-train/joint1,/tmp/ifp-train/joint2 dense192=/tmp/ifp-train/dense192-1,/tmp/ifp-train/dense192-2 ...

A run is NAME=DIR[,DIR...]: stage folders in order, their steps laid end to end.
"""
import argparse
import json
import os
from html import escape

COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf']


def read_run(dirs):
    train, evals, offset = [], [], 0
    for d in dirs:
        last = 0
        seen_eval = set()
        with open(os.path.join(d, 'log.jsonl')) as f:
            for line in f:
                r = json.loads(line)
                if 'eval' in r:
                    if offset and r['step'] == 0:
                        continue  # a stage's step-0 eval repeats the previous stage's last one
                    if r['step'] in seen_eval:
                        continue
                    seen_eval.add(r['step'])
                    series = {}
                    for dom in r['eval'].values():
                        for k, v in dom.items():
                            series.setdefault(k, []).append(v)
                    evals.append((offset + r['step'], {k: sum(v) / len(v) for k, v in series.items()}))
                else:
                    train.append((offset + r['step'], r.get('ce', r['loss'])))  # --distill: the CE part, comparable
                last = max(last, r['step'])
        offset += last
    return train, evals, offset


def panel(x0, y0, w, h, series, title, xmax, ylab):
    ys = [y for _, pts, _ in series for _, y in pts]
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.05 or 0.1
    lo, hi = lo - pad, hi + pad
    sx = lambda x: x0 + 50 + (w - 60) * x / max(1, xmax)
    sy = lambda y: y0 + 20 + (h - 50) * (1 - (y - lo) / (hi - lo))
    out = [f'<text x="{x0 + w / 2}" y="{y0 + 12}" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<rect x="{x0 + 50}" y="{y0 + 20}" width="{w - 60}" height="{h - 50}" fill="none" stroke="#888"/>']
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        out.append(f'<text x="{x0 + 46}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="10">{v:.2f}</text>')
    for i in range(5):
        v = xmax * i / 4
        out.append(f'<text x="{sx(v):.1f}" y="{y0 + h - 16}" text-anchor="middle" font-size="10">{int(v)}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h - 2}" text-anchor="middle" font-size="10">optimizer step</text>')
    out.append(f'<text x="{x0 + 12}" y="{y0 + h / 2}" text-anchor="middle" font-size="10" transform="rotate(-90 {x0 + 12} {y0 + h / 2})">{escape(ylab)}</text>')
    for i, (name, pts, dash) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        path = ' '.join(f'{sx(x):.1f},{sy(y):.1f}' for x, y in pts)
        dashed = ' stroke-dasharray="4 3"' if dash else ''
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="1.5"{dashed}/>')
        out.append(f'<text x="{x0 + 60}" y="{y0 + 34 + 13 * i}" font-size="10" fill="{c}">{escape(name)}</text>')
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-o', required=True)
    ap.add_argument('runs', nargs='+')
    a = ap.parse_args()
    train_series, eval_series, xmax = [], [], 0
    for spec in a.runs:
        name, dirs = spec.split('=', 1)
        train, evals, n = read_run(dirs.split(','))
        xmax = max(xmax, n)
        train_series.append((name, train, False))
        for key in sorted({k for _, e in evals for k in e}):
            eval_series.append((f'{name} {key}', [(s, e[key]) for s, e in evals if key in e], key == 'dense' and name.startswith('joint')))
    W, H = 1000, 380
    body = panel(0, 0, W / 2, H, train_series, 'training cross-entropy (scored tokens)', xmax, 'nats/token')
    body += panel(W / 2, 0, W / 2, H, eval_series, 'held-out calibration pairs: response NLL, mean of 6 domains', xmax, 'nats/token')
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">\n' + '\n'.join(body) + '\n</svg>\n'
    with open(a.o, 'w') as f:
        f.write(svg)
    print(f'wrote {a.o}')


if __name__ == '__main__':
    main()
