"""Copies of evaluation JSONL files without the examples listed in an exclusion file, for
`ifprune eval -d` (docs/training.md: results with and without the eval examples that occur in the
training text). `ifprune eval` reports per domain only, so the examples are left out of its input.

  python3 tools/train/exclude.py --exclude ../shared/eval/in-train.json --out /tmp/ifp-eval/clean \
      ../shared/eval/python.jsonl ../shared/eval/javascript.jsonl

The exclusion file is {"domain": ["id", ...], ...} (../shared/eval/in-train.json); every listed id must
occur in the inputs (a mismatch means the wrong files or a changed list), and an input that would lose
nothing is still copied, so the output is always the whole set minus the list.
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--exclude', required=True, help='JSON {domain: [id, ...]}')
    ap.add_argument('--out', required=True, help='folder for the filtered copies (same file names)')
    ap.add_argument('files', nargs='+')
    a = ap.parse_args()
    with open(a.exclude) as f:
        drop = {i for ids in json.load(f).values() for i in ids}
    os.makedirs(a.out, exist_ok=True)
    found = set()
    for path in a.files:
        kept, n = [], 0
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                n += 1
                ex = json.loads(line)
                if ex.get('id') in drop:
                    found.add(ex['id'])
                else:
                    kept.append(line if line.endswith('\n') else line + '\n')
        out = os.path.join(a.out, os.path.basename(path))
        with open(out, 'w') as f:
            f.writelines(kept)
        print(f'{out}: {len(kept)} of {n} examples')
    missing = drop - found
    if missing:
        sys.exit(f'{len(missing)} excluded ids are in none of the inputs (e.g. {sorted(missing)[0]}): pass every file the list names')


if __name__ == '__main__':
    main()
