"""Run a training recipe: the shipped model's schedule as stages of train.py.

camaudit-cams-v1 was trained in several runs, each resuming the one before
with a longer cosine schedule, some with a higher learning rate or more data
(docs/model.md). A recipe file (detect/train/recipe.txt) writes that
schedule down, one stage per line: the epoch the stage trains to, its base
learning rate and the data set's name. `make model` runs the whole recipe
with one command, so that it rebuilds the shipped model rather than its
first day; and since every stage resumes OUT/last.pt, an interrupted
`make model` continues where it stopped.

Usage:
  python3 detect/train/recipe.py run --recipe detect/train/recipe.txt --out build/model \\
      --data dataset=build/dataset --data walks-mix=build/walks-mix [--fresh] -- TRAIN_ARGS...
  python3 detect/train/recipe.py show --recipe detect/train/recipe.txt [--ckpt build/model/last.pt]
  python3 detect/train/recipe.py compare --ckpt build/model/last.pt [--card models/camaudit-cams-v1/MODEL_CARD.md]
  python3 detect/train/recipe.py check --bundle DIR [--against models/camaudit-cams-v1]

compare sets a run's validation AP50 by epoch beside the curve a model card
lists (the shipped one's by default), on the same validation images: how a
run of the recipe tracks the shipped model while it trains. check sets a
finished bundle's held-out figures beside another's (the shipped one's by
default) and says whether each falls inside the other's 95 % interval over
the held-out images: whether `make model` reproduced the card within the
noise of the held-out set. Its verdict rests on the AP50 figures (RANKING);
it exits 1 when one falls outside.

TRAIN_ARGS are train.py's other settings (preset, crop size, batch, seed,
threads, device...); the recipe sets --epochs, --lr and --data per stage.
Before each stage the checkpoint's own record of its runs is checked against
the recipe: a checkpoint from another schedule (a fine-tuning run, a run to
another epoch or at another rate) is refused, naming the run that differs,
instead of being continued into a model that matches neither.
"""

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))


class RecipeError(ValueError):
    """A recipe file that cannot be read or run."""


class ForeignCheckpoint(RecipeError):
    """A checkpoint that was not trained by the recipe."""


@dataclass(frozen=True)
class Stage:
    """One train.py run of a recipe: train to epoch `end` with base learning
    rate `lr` on the data set named `data` (a folder's base name, as train.py
    records it)."""
    end: int
    lr: float
    data: str

    def describe(self, start):
        return f"epochs {start + 1}-{self.end} at base learning rate {self.lr:g} on {self.data}"


def parse(text, name="recipe"):
    """Stages of a recipe file's text; `name` is used in errors."""
    stages = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        where = f"{name}:{n}"
        if len(f) != 3:
            raise RecipeError(f"{where}: want 'EPOCH LR DATA', got {line!r}")
        try:
            end = int(f[0])
        except ValueError:
            raise RecipeError(f"{where}: epoch {f[0]!r} is not a whole number") from None
        try:
            lr = float(f[1])
        except ValueError:
            raise RecipeError(f"{where}: learning rate {f[1]!r} is not a number") from None
        if not 0 < lr < 1:
            raise RecipeError(f"{where}: learning rate {f[1]} is outside (0, 1)")
        prev = stages[-1].end if stages else 0
        if end <= prev:
            raise RecipeError(f"{where}: epoch {end} does not come after the stage before's {prev}")
        stages.append(Stage(end, lr, f[2]))
    if not stages:
        raise RecipeError(f"{name}: no stages")
    return stages


def read(path):
    """Stages of the recipe file at path."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise RecipeError(f"reading recipe: {e}") from None
    return parse(text, path)


def runs(ck):
    """The runs a train.py checkpoint records, as (start epoch, end epoch,
    lr, data name): the first run (which may not have reached its end yet)
    and each continuation."""
    res = ck.get("resumes") or []
    first = ck.get("first_run") or {}
    args = ck.get("args", {})
    first_end = res[0]["epoch"] if res else args.get("epochs")
    out = [(0, first_end, first.get("lr", args.get("lr")),
            first.get("data", os.path.basename(os.path.normpath(args.get("data", "dataset")))))]
    for r in res:
        out.append((r["epoch"], r["epochs"], r.get("lr"), r.get("data", "dataset")))
    return out


def next_stage(stages, ck, where="checkpoint"):
    """Index of the stage to run next for the checkpoint ck (None: nothing
    trained yet), len(stages) when the recipe is done. Raises
    ForeignCheckpoint, naming `where`, when ck was not trained by this recipe."""
    if ck is None:
        return 0
    init = (ck.get("first_run") or {}).get("init")
    if init:
        raise ForeignCheckpoint(f"{where} is a fine-tuning run from {init.get('bundle', 'a bundle')}, not this recipe")
    by_end = {s.end: s for s in stages}
    ends = ", ".join(str(s.end) for s in stages)
    for start, end, lr, data in runs(ck):
        s = by_end.get(end)
        rate = f"{lr:g}" if lr is not None else "an unrecorded rate"
        what = f"{where}: its run from epoch {start} went to epoch {end} at learning rate {rate} on {data}"
        if s is None:
            raise ForeignCheckpoint(f"{what}; the recipe has no stage ending at {end} (its stages end at {ends})")
        if (lr, data) != (s.lr, s.data):
            raise ForeignCheckpoint(f"{what}; the recipe's stage to {end} is at {s.lr:g} on {s.data}")
    epoch = ck["epoch"]
    for i, s in enumerate(stages):
        if s.end > epoch:
            return i
    return len(stages)


def load(path):
    """The checkpoint at path, or None when there is none."""
    if not os.path.exists(path):
        return None
    sys.path.insert(0, HERE)
    from train import load_checkpoint  # torch is needed only here
    return load_checkpoint(path)


def run(stages, out, data_dirs, train_args, fresh=False, python=sys.executable):
    """Runs the stages still to do for OUT/last.pt with train.py, one
    process per stage. data_dirs maps the recipe's data names to folders."""
    for s in stages:
        if s.data not in data_dirs:
            raise RecipeError(f"recipe stage to epoch {s.end} trains on {s.data!r}, but no --data {s.data}=DIR was given")
    last = os.path.join(out, "last.pt")
    ck = None if fresh else load(last)
    while True:
        i = next_stage(stages, ck, last)
        epoch = ck["epoch"] if ck else 0
        if i == len(stages):
            print(f"recipe: all {len(stages)} stages done ({last} at epoch {epoch})", file=sys.stderr)
            return
        s = stages[i]
        start = stages[i - 1].end if i else 0
        print(f"recipe: stage {i + 1}/{len(stages)}: {s.describe(start)}"
              f"{' (continuing at epoch %d)' % epoch if epoch > start else ''}", file=sys.stderr)
        cmd = [python, os.path.join(HERE, "train.py"), *train_args, "--out", out, "--epochs", str(s.end),
               "--lr", repr(s.lr), "--data", data_dirs[s.data]]
        if fresh:
            cmd.append("--fresh")
        if subprocess.run(cmd).returncode != 0:
            raise RecipeError(f"recipe stage {i + 1} ({s.describe(start)}) failed: {' '.join(cmd)}")
        ck = load(last)  # also the next stage's starting point
        if ck is None or ck["epoch"] < s.end:
            raise RecipeError(f"recipe stage {i + 1} ended at epoch {ck['epoch'] if ck else 0}, not {s.end}")
        # Each stage's model is kept (OUT/stage-EPOCH.pt, train.py's final.pt:
        # a few hundred KB), so that a run can be compared with the shipped
        # model's history stage by stage after the next stage has replaced
        # final.pt (export.py --ckpt takes it).
        shutil.copyfile(os.path.join(out, "final.pt"), stage_path(out, s.end))
        fresh = False


def stage_path(out, end):
    """Where run keeps the model of the stage that ended at epoch end."""
    return os.path.join(out, f"stage-{end:03d}.pt")


def card_curve(text):
    """The validation AP50 by epoch a model card lists (bundle.py writes it
    under "More training"): {epoch: (ap50, on the whole split)}."""
    start = text.find("Validation AP50 by epoch")
    if start < 0:
        return {}
    line = text[start:].split("\n", 1)[0]
    line = line[line.index("):") + 2:] if "):" in line else line
    curve = {}
    for item in line.split(","):
        k, sep, v = item.strip().partition(": ")
        v = v.split()[0] if v else ""
        if not sep or not k.isdigit():
            continue
        whole = v.endswith("*")
        try:
            curve[int(k)] = (float(v.rstrip("*")), whole)
        except ValueError:
            continue
    return curve


def compare(ck, curve):
    """Rows (epoch, this run's AP50, the card's AP50, on the whole split)
    for each validation both have, measured on the same images (the whole
    split at a run's end, the first images every few epochs)."""
    hist = [r for r in ck.get("history", []) if (r.get("val") or {}).get("ap50") is not None]
    # train.py validates on its first --val-limit images every few epochs
    # and on all of them at a run's end.
    limit = ck.get("args", {}).get("val_limit") or 0
    rows = []
    for r in hist:
        e = r["epoch"]
        whole = not (limit and r["val"].get("images") == limit)
        if e in curve and whole == curve[e][1]:
            rows.append((e, r["val"]["ap50"], curve[e][0], curve[e][1]))
    return rows


# The held-out figures model.yaml holds with a 95 % interval (bundle.py,
# verify.py: KEY, KEY_low, KEY_high, with a prefix).
FIGURES = ("ap50", "agnostic_ap50", "precision", "recall", "recall_small")

# The groups of figures check compares, by prefix: with a verifier in both
# bundles, the bundle's figures with it and the detector's alone; else the
# bundle's own.
CHECK_GROUPS = (("verified_", "with the verifier"), ("detector_", "detector alone"))


def read_manifest(path):
    """A bundle's model.yaml (path: the bundle folder or the file)."""
    import yaml
    if os.path.isdir(path):
        path = os.path.join(path, "model.yaml")
    try:
        with open(path) as f:
            m = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise RecipeError(f"reading bundle manifest: {e}") from None
    if not isinstance(m, dict) or not isinstance(m.get("metrics"), dict):
        raise RecipeError(f"{path}: no metrics (a staged bundle, or not a model.yaml)")
    return m


def check(new, ref):
    """Rows (group, figure, new value, reference value, reference interval
    or None, verdict) comparing two manifests' held-out figures; the verdict
    is "inside" (the reference's interval), "outside" or "no interval"."""
    a, b = new["metrics"], ref["metrics"]
    groups = [(p, label) for p, label in CHECK_GROUPS if any(p + k in a and p + k in b for k in FIGURES)]
    rows = []
    for prefix, label in groups or [("", "held-out set")]:
        for k in FIGURES:
            key = prefix + k
            if key not in a or key not in b:
                continue
            iv = (b[key + "_low"], b[key + "_high"]) if key + "_low" in b and key + "_high" in b else None
            verdict = "no interval" if iv is None else ("inside" if iv[0] <= a[key] <= iv[1] else "outside")
            rows.append((label, k, a[key], b[key], iv, verdict))
    return rows


# The figures check's verdict rests on: AP50 ranks every detection whatever
# the threshold. Precision and recall at the threshold also move with how the
# scores are calibrated, which shifts from one training to the next (a
# threshold trades one for the other), so check shows them without judging
# by them.
RANKING = ("ap50", "agnostic_ap50")


def print_check(new_path, ref_path, new, ref, rows, out=sys.stdout):
    """Prints check's table and verdict; returns whether every AP50 figure
    with an interval fell inside it."""
    print(f"held-out figures of {new_path} (this bundle) and {ref_path} (reference)", file=out)
    if new.get("threshold") != ref.get("threshold") or new.get("tile_thresholds") != ref.get("tile_thresholds"):
        print(f"note: default thresholds differ ({new.get('threshold')} and {ref.get('threshold')}): "
              "precision and recall are taken at different thresholds", file=out)
    print(f"{'figure':34} {'this':>6} {'ref':>6} {'difference':>10}  reference 95 % interval", file=out)
    for label, k, got, want, iv, verdict in rows:
        span = f"{iv[0]:.3f}-{iv[1]:.3f}" if iv else "-"
        print(f"{label + ', ' + k:34} {got:6.3f} {want:6.3f} {got - want:+10.3f}  {span:11} {verdict}", file=out)
    judged = [r for r in rows if r[1] in RANKING and r[5] != "no interval"]
    outside = [r for r in judged if r[5] == "outside"]
    shifted = [r for r in rows if r[1] not in RANKING and r[5] == "outside"]
    if not rows:
        print("no held-out figure in common", file=out)
    elif not judged:
        print("the reference has no intervals of AP50 (a bundle from before them): no verdict", file=out)
    elif outside:
        print(f"{len(outside)} of {len(judged)} AP50 figures outside the reference's intervals: "
              "this bundle does not match the reference within the noise of the held-out set", file=out)
    else:
        print(f"all {len(judged)} AP50 figures inside the reference's intervals: "
              "this bundle matches the reference within the noise of the held-out set", file=out)
    if shifted:
        print(f"at the threshold, {len(shifted)} figure(s) outside ({', '.join(r[0] + ' ' + r[1] for r in shifted)}): "
              "the scores are calibrated differently, and the threshold trades precision for recall; "
              "not part of the verdict", file=out)
    return bool(judged) and not outside


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the stages still to do")
    r.add_argument("--recipe", default=os.path.join(HERE, "recipe.txt"))
    r.add_argument("--out", required=True, help="train.py's --out (its last.pt is resumed)")
    r.add_argument("--data", action="append", default=[], metavar="NAME=DIR",
                   help="the folder of a data set the recipe names")
    r.add_argument("--fresh", action="store_true", help="start from the first stage, ignoring OUT/last.pt")
    r.add_argument("train_args", nargs="*", help="train.py's other arguments, after --")
    s = sub.add_parser("show", help="print the stages and where a checkpoint stands")
    s.add_argument("--recipe", default=os.path.join(HERE, "recipe.txt"))
    s.add_argument("--ckpt", default="")
    c = sub.add_parser("compare", help="a checkpoint's validation AP50 by epoch beside a model card's")
    c.add_argument("--ckpt", required=True)
    c.add_argument("--card", default=os.path.normpath(os.path.join(HERE, "..", "..", "models", "camaudit-cams-v1", "MODEL_CARD.md")))
    k = sub.add_parser("check", help="a bundle's held-out figures beside another's, inside its 95 % intervals or not")
    k.add_argument("--bundle", required=True, help="bundle folder or its model.yaml")
    k.add_argument("--against", default=os.path.normpath(os.path.join(HERE, "..", "..", "models", "camaudit-cams-v1")),
                   help="reference bundle folder or model.yaml (default: the shipped bundle)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "check":
            new, ref = read_manifest(args.bundle), read_manifest(args.against)
            if not print_check(args.bundle, args.against, new, ref, check(new, ref)):
                sys.exit(1)
            return
        if args.cmd == "compare":
            ck = load(args.ckpt)
            if ck is None:
                raise RecipeError(f"{args.ckpt}: no such checkpoint")
            try:
                with open(args.card) as f:
                    curve = card_curve(f.read())
            except OSError as e:
                raise RecipeError(f"reading model card: {e}") from None
            if not curve:
                raise RecipeError(f"{args.card}: no 'Validation AP50 by epoch' line")
            rows = compare(ck, curve)
            print(f"validation AP50 of {args.ckpt} (this run) and {args.card} (card)")
            print("epoch  this run   card  difference")
            for e, got, want, whole in rows:
                print(f"{e:5d}{'*' if whole else ' '} {got:8.3f} {want:6.3f}  {got - want:+10.3f}")
            if rows:
                diffs = [got - want for _, got, want, _ in rows]
                print(f"{len(rows)} validations in common (* whole split); difference mean {sum(diffs) / len(diffs):+.3f}, "
                      f"largest {max(diffs, key=abs):+.3f}")
            else:
                print("no validation in common")
            return
        stages = read(args.recipe)
        if args.cmd == "show":
            ck = load(args.ckpt) if args.ckpt else None
            nxt = next_stage(stages, ck, args.ckpt) if ck else 0
            start = 0
            for i, st in enumerate(stages):
                mark = "done" if i < nxt else ("next" if i == nxt else "")
                print(f"{i + 1}. {st.describe(start)} {mark}".rstrip())
                start = st.end
            return
        dirs = {}
        for d in args.data:
            name, sep, path = d.partition("=")
            if not sep or not name or not path:
                raise RecipeError(f"--data {d!r}: want NAME=DIR")
            dirs[name] = path
        run(stages, args.out, dirs, args.train_args, args.fresh)
    except RecipeError as e:
        hint = ""
        if isinstance(e, ForeignCheckpoint):
            hint = ("\nrecipe: to start the recipe anew use --fresh (make model: MODEL_FRESH=1), or train in "
                    "another folder (make model: MODEL_WORK=DIR); MODEL_EPOCHS=N make model continues this "
                    "checkpoint as one run instead")
        sys.exit(f"recipe: {e}{hint}")


if __name__ == "__main__":
    main()
