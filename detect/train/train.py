"""Train CamNet on a YOLO-layout dataset (CPU or CUDA, resumable, deterministic seed).

Usage:
  python3 detect/train/train.py --data build/dataset --out build/model [--epochs 30]

Writes OUT/last.pt (resumable checkpoint, every epoch and every few minutes)
and OUT/final.pt (EMA weights plus what export.py needs). Prints a progress
line with throughput and ETA on stderr, and validation metrics (EMA weights,
whole val images) after each validation epoch. Re-running the same command
resumes from OUT/last.pt unless --fresh is given. --device cuda trains on a
GPU (checkpoints are saved with CPU tensors and plain Python values, so a run
continued or exported on another machine, with another PyTorch, loads them);
--time-budget caps this run's epochs, after its second epoch, at what fits in
the given minutes, with the learning-rate schedule ending there.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

from data import EvalSet, TrainSet, collate
from loss import Loss, decode
from metrics import Evaluator, postprocess
from model import CamNet
from unbundle import calibrate_bn, from_bundle

NAMES = ["dome", "bullet", "ptz", "alpr"]


class EMA:
    """Exponential moving average of weights (and BN buffers) with a warm-up ramp."""

    def __init__(self, net, decay=0.9995, tau=2000):
        self.net = CamNet(net.nc, net.preset)
        self.net.load_state_dict(net.state_dict())
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self, net):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        src = net.state_dict()
        for k, v in self.net.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)
            else:
                v.copy_(src[k])


def bf16_fast():
    """Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def plain(x):
    """x with numpy scalars turned into Python numbers, so checkpoints load
    under another numpy (numpy 2 pickles its scalars under numpy._core)."""
    return json.loads(json.dumps(x, default=lambda o: o.item()))


def cpu_state(sd):
    """A state dict with every tensor copied to the CPU."""
    return {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in sd.items()}


def load_checkpoint(path):
    """torch.load of one of our checkpoints, on the CPU, on old and new PyTorch."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # PyTorch before 1.13 has no weights_only
        return torch.load(path, map_location="cpu")


def fmt_time(s):
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@torch.no_grad()
def validate(net, root, split, limit, threshold, batch=4):
    """Runs net on whole images of a split; returns Evaluator.summary() with
    the F1-optimal threshold added as best_threshold (and its best_f1)."""
    net.eval()
    dev = next(net.parameters()).device
    ds = EvalSet(root, split, len(NAMES), limit)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=0, collate_fn=collate)
    ev = Evaluator(len(NAMES), NAMES, threshold)
    for imgs, gt, gmask in dl:
        logits, boxes, _, _ = decode([m.float().cpu() for m in net(imgs.to(dev))], len(NAMES))
        for (bx, sc, cl), g, m in zip(postprocess(logits, boxes), gt, gmask):
            ev.add(bx.numpy(), sc.numpy(), cl.numpy(), g[m].numpy())
    res = ev.summary()
    bt = ev.best_threshold()
    if bt:
        res["best_threshold"], res["best_f1"] = bt
    return res


def read_bundle(path):
    """unbundle.from_bundle(path): (net, info), or exit with the reason it is not a CamNet bundle."""
    try:
        return from_bundle(path)
    except (ValueError, OSError) as e:
        sys.exit(f"train: --init {path}: {e}")


def init_from_bundle(args, bundle, net, ema, ds):
    """Loads bundle ((net, info) from read_bundle) into net and ema, with its
    batch norms calibrated on args.calib_batches training batches (see
    unbundle.py); returns what the checkpoint records about it (the model
    card names the bundle)."""
    bnet, info = bundle
    if info["labels"] != NAMES:
        sys.exit(f"train: --init {args.init}: labels {info['labels']}, this trainer's are {NAMES}")
    g = torch.Generator()
    g.manual_seed(args.seed)
    ds.set_epoch(0)
    dl = torch.utils.data.DataLoader(ds, batch_size=max(args.batch // args.per_image, 1), shuffle=True,
                                     generator=g, num_workers=0, collate_fn=collate)
    batches = (imgs for i, (imgs, _, _) in zip(range(args.calib_batches), dl))
    n = calibrate_bn(bnet, batches)
    net.load_state_dict(bnet.state_dict())
    ema.net.load_state_dict(bnet.state_dict())
    rec = {k: info[k] for k in ("name", "version", "sha256", "epochs") if info.get(k) is not None}
    rec["bundle"] = args.init
    print(f"train: starting from {args.init} ({info.get('name') or 'bundle'}, preset {info['preset']}"
          f"{', %s epochs' % info['epochs'] if info.get('epochs') else ''}); batch norms calibrated on {n} crops",
          file=sys.stderr)
    return rec


def param_groups(net, wd):
    decay, no_decay = [], []
    for n, p in net.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="dataset root (images/, labels/, data.yaml)")
    ap.add_argument("--out", required=True, help="folder for checkpoints")
    ap.add_argument("--preset", default="n", help="architecture preset (model.PRESETS)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--samples", type=int, default=0, help="crops per epoch (default: train images)")
    ap.add_argument("--size", type=int, default=320, help="training crop size")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--wd", type=float, default=0.0005)
    ap.add_argument("--warmup", type=int, default=300, help="warm-up iterations")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (2 spin-wait badly when other work shares the cores)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--per-image", type=int, default=2, help="crops cut from each decoded image")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="bf16 autocast (weights stay fp32): ~3x faster on CPUs with AVX512-BF16; auto uses it there")
    ap.add_argument("--val-every", type=int, default=5, help="validate every N epochs (0: only at the end)")
    ap.add_argument("--val-limit", type=int, default=200, help="val images used while training (0: all)")
    ap.add_argument("--threshold", type=float, default=0.35, help="score threshold for precision/recall")
    ap.add_argument("--export-size", default="672x368", help="WxH the bundle's ONNX will take")
    ap.add_argument("--fresh", action="store_true", help="ignore OUT/last.pt")
    ap.add_argument("--init", metavar="BUNDLE",
                    help="start from a CamNet bundle's weights (e.g. models/camaudit-cams-v1) instead of random ones: "
                         "fine-tuning; its preset replaces --preset; ignored when OUT/last.pt resumes the run")
    ap.add_argument("--calib-batches", type=int, default=8,
                    help="--init: training batches whose statistics rebuild the bundle's folded batch norms")
    ap.add_argument("--device", default="cpu", help="torch device to train on: cpu, cuda, cuda:N")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="minutes this run may take: after its second epoch, --epochs is lowered to what fits (0: no cap)")
    args = ap.parse_args()

    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"train: --device {args.device}: PyTorch sees no CUDA device")
    # Recorded per epoch and per continued run, so the model card can say
    # which part of the training ran where.
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    # The data set's folder name: a continued run may add data (walk frames).
    data_name = os.path.basename(os.path.normpath(args.data))
    # The learning rate and crop size too: a continued run may change them
    # (MODEL_LR, MODEL_CROP), and the card must say how to repeat it.
    run_info = {"device": device_name, "torch": str(torch.__version__), "data": data_name,
                "lr": args.lr, "crop": args.size}
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    ew, eh = (int(v) for v in args.export_size.split("x"))

    bundle = read_bundle(args.init) if args.init else None
    if bundle:
        # The bundle's architecture decides (also when the run resumes).
        args.preset = bundle[1]["preset"]
    # channels_last lets oneDNN pick its fast convolution kernels on CPU.
    net = CamNet(len(NAMES), args.preset).to(dev, memory_format=torch.channels_last)
    ema = EMA(net)
    ema.net.to(dev)
    opt = torch.optim.AdamW(param_groups(net, args.wd), lr=args.lr, betas=(0.9, 0.999))
    ds = TrainSet(args.data, "train", len(NAMES), args.size, args.samples or None, args.seed,
                  per_image=args.per_image)
    if args.batch % args.per_image:
        sys.exit(f"train: --batch {args.batch} must be a multiple of --per-image {args.per_image}")
    iters_per_epoch = len(ds) // (args.batch // args.per_image)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and dev.type == "cpu" and bf16_fast())
    total_iters = iters_per_epoch * args.epochs
    start_epoch, step = 0, 0
    history = []
    # [{"epoch": E, "epochs": N, "device": D, "torch": V, "data": S, "lr": L, "crop": C
    #   [, "time_budget_min": M, "planned": P]}]: continued at epoch E on device D with
    # PyTorch V, data set folder S, base learning rate L and C px crops, for N epochs
    # (where a time budget of M minutes capped the P epochs asked for, N is the cap).
    resumes = []
    # The first run's settings; a continued run's differences are in resumes.
    first_run = run_info
    prior_seconds = 0.0
    last = os.path.join(args.out, "last.pt")
    resuming = os.path.exists(last) and not args.fresh
    if bundle and not resuming:
        first_run = dict(run_info, init=init_from_bundle(args, bundle, net, ema, ds))
    if resuming:
        ck = load_checkpoint(last)
        if ck["preset"] != args.preset:
            sys.exit(f"train: {last} is preset {ck['preset']!r}, not {args.preset!r}; use --fresh")
        net.load_state_dict(ck["model"])
        ema.net.load_state_dict(ck["ema"])
        ema.updates = ck["ema_updates"]
        opt.load_state_dict(ck["opt"])
        start_epoch, step = ck["epoch"], ck["step"]
        history = ck.get("history", [])
        resumes = ck.get("resumes", [])
        first_run = ck.get("first_run")  # None in checkpoints written before it was kept
        if start_epoch < args.epochs and (ck["epoch"] >= ck["args"]["epochs"] or args.epochs != ck["args"]["epochs"]):
            resumes.append({"epoch": start_epoch, "epochs": args.epochs, **run_info})
        prior_seconds = ck.get("train_seconds") or sum(r.get("seconds", 0) for r in history)
        torch.set_rng_state(ck["torch_rng"])
        print(f"train: resumed from {last} at epoch {start_epoch}, step {step}", file=sys.stderr)

    def save(epoch, path=last):
        tmp = path + ".tmp"
        opt_state = opt.state_dict()
        opt_state["state"] = {k: cpu_state(v) if isinstance(v, dict) else v for k, v in opt_state["state"].items()}
        torch.save({"model": cpu_state(net.state_dict()), "ema": cpu_state(ema.net.state_dict()),
                    "ema_updates": ema.updates, "opt": opt_state, "epoch": epoch, "step": step,
                    "preset": args.preset, "nc": len(NAMES), "names": NAMES, "export_width": ew,
                    "export_height": eh, "history": plain(history), "args": vars(args),
                    "torch_rng": torch.get_rng_state(),
                    "resumes": resumes, "first_run": first_run,
                    "train_seconds": round(prior_seconds + time.time() - t_start, 1)}, tmp)
        os.replace(tmp, path)

    lossf = Loss(len(NAMES))
    print(f"train: {len(ds.pairs)} train images, {len(ds) * args.per_image} crops/epoch of {args.size}px, "
          f"batch {args.batch}, {args.epochs} epochs = {total_iters} iterations, preset {args.preset}, "
          f"{'bf16 autocast' if bf16 else 'fp32'}, {dev}", file=sys.stderr)
    t_start = time.time()
    steps_done = 0
    last_save = time.time()
    for epoch in range(start_epoch, args.epochs):
        if epoch >= args.epochs:  # lowered by --time-budget
            break
        net.train()
        ds.set_epoch(epoch)
        g = torch.Generator()
        g.manual_seed(args.seed * 1000 + epoch)
        dl = torch.utils.data.DataLoader(ds, batch_size=args.batch // args.per_image, shuffle=True, generator=g,
                                         num_workers=args.workers, collate_fn=collate, drop_last=True,
                                         persistent_workers=False, pin_memory=dev.type == "cuda")
        sums = {"loss": 0.0, "cls": 0.0, "box": 0.0, "pos": 0}
        n = 0
        t_epoch = time.time()
        for imgs, gt, gmask in dl:
            lr = args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / max(total_iters, 1))))
            if step < args.warmup:
                lr *= (step + 1) / args.warmup
            for grp in opt.param_groups:
                grp["lr"] = lr
            imgs = imgs.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
            gt, gmask = gt.to(dev, non_blocking=True), gmask.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                maps = net(imgs)
            loss, parts = lossf([m.float() for m in maps], gt, gmask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            ema.update(net)
            step += 1
            steps_done += 1
            n += 1
            sums["loss"] += float(loss)
            sums["cls"] += parts["cls"]
            sums["box"] += parts["box"]
            sums["pos"] += parts["pos"]
            if n % 10 == 0 or n == iters_per_epoch:
                el = time.time() - t_start
                rate = steps_done / el
                eta = (total_iters - step) / max(rate, 1e-9)
                print(f"\rtrain: epoch {epoch + 1}/{args.epochs} it {n}/{iters_per_epoch} "
                      f"loss {sums['loss'] / n:.3f} (cls {sums['cls'] / n:.3f} box {sums['box'] / n:.3f} "
                      f"pos {sums['pos'] / n:.0f}) lr {lr:.5f} {rate * args.batch:.1f} img/s ETA {fmt_time(eta)}   ",
                      end="", file=sys.stderr, flush=True)
            if time.time() - last_save > 600:
                save(epoch)  # mid-epoch: resumes at the start of this epoch
                last_save = time.time()
        print(file=sys.stderr)
        rec = {"epoch": epoch + 1, "step": step, "loss": sums["loss"] / max(n, 1),
               "seconds": round(time.time() - t_epoch, 1), "device": device_name, "data": data_name}
        final = epoch + 1 == args.epochs
        if (args.val_every and (epoch + 1) % args.val_every == 0) or final:
            m = validate(ema.net, args.data, "val", 0 if final else args.val_limit, args.threshold)
            rec["val"] = {k: v for k, v in m.items() if k != "classes"}
            per = " ".join(f"{k} {v['ap50']:.3f}" for k, v in m["classes"].items())
            print(f"val: epoch {epoch + 1} AP50 {m['ap50']:.3f} P {m['precision']:.3f} R {m['recall']:.3f} "
                  f"R<16 {m['recall_lt16']:.3f} R16-32 {m['recall_16to32']:.3f} R>32 {m['recall_gt32']:.3f} | {per} | "
                  f"best F1 {m.get('best_f1', 0):.3f} at {m.get('best_threshold')}",
                  file=sys.stderr, flush=True)
        history.append(rec)
        if args.time_budget and epoch == start_epoch + 1 and not final:
            # Epochs left that fit in the budget, at the pace of the run's
            # second epoch (the first carries start-up costs) plus a
            # validation's share; the cosine schedule is stretched to end there.
            spent = time.time() - t_start
            per_epoch = (time.time() - t_epoch) * 1.08
            fit = epoch + 1 + max(int((args.time_budget * 60 - spent) / per_epoch), 1)
            if fit < args.epochs:
                print(f"train: --time-budget {args.time_budget:g} min: {per_epoch:.1f} s/epoch, "
                      f"ending at epoch {fit} instead of {args.epochs}", file=sys.stderr)
                planned, args.epochs = args.epochs, fit
                total_iters = iters_per_epoch * args.epochs
                if start_epoch > 0:  # a continued run: its record says where it now ends
                    if not resumes or resumes[-1]["epoch"] != start_epoch:
                        resumes.append({"epoch": start_epoch, **run_info})
                    resumes[-1].update(epochs=fit, planned=planned, time_budget_min=args.time_budget)
        save(epoch + 1)
        last_save = time.time()
    final_path = os.path.join(args.out, "final.pt")
    vals = [r["val"] for r in history if "val" in r]
    threshold = vals[-1].get("best_threshold") if vals else None
    torch.save({"ema": cpu_state(ema.net.state_dict()), "threshold": plain(threshold), "preset": args.preset, "nc": len(NAMES), "names": NAMES,
                "export_width": ew, "export_height": eh, "history": plain(history), "args": vars(args),
                "resumes": resumes, "first_run": first_run,
                "train_seconds": round(prior_seconds + time.time() - t_start, 1)}, final_path)
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    print(f"train: wrote {final_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
