"""Unit tests of the training pipeline (run by `make model` before training).

python3 -m unittest discover -s detect/train -p 'test_*.py'
"""

import os
import subprocess
import sys
import tempfile
import unittest

import cv2

import numpy as np
import torch

from bundle import (cell, errors_bullet, figures, first_settings, hardware, init_text, metrics_tables, more_metrics, recipe_text,
                    reference_input, schedule, targets, threshold_text, tile_thresholds, walks_line)
from data import collate, crop_boxes, random_crop, read_labels
from export import compare_cv2, export, fold_bn
from loss import Loss, assign, assign_dense, box_iou, decode
from metrics import Evaluator, average_precision
from model import STRIDES, CamNet, Exported, make_anchors
import recipe
from unbundle import calibrate_bn, from_bundle
import verify
from walks import NAMES as WALK_NAMES, labels as walk_labels, scenario as walk_scenario

torch.set_num_threads(1)


HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, "..", "..", "models", "camaudit-cams-v1")


class ModelTest(unittest.TestCase):
    def test_output_layout(self):
        net = CamNet(4, "t").eval()
        ex = Exported(net, 96, 64).eval()
        with torch.no_grad():
            y = ex(torch.rand(1, 3, 64, 96))
        n = sum((64 // s) * (96 // s) for s in STRIDES)
        self.assertEqual(tuple(y.shape), (1, 8, n))
        self.assertTrue(bool((y[:, 2:4] > 0).all()), "widths and heights must be positive")
        self.assertTrue(bool(((y[:, 4:] >= 0) & (y[:, 4:] <= 1)).all()), "scores must be sigmoids")

    def test_export_matches_training_decode(self):
        # The exported decoding equals loss.decode on the same maps.
        torch.manual_seed(3)
        net = CamNet(4, "t").eval()
        x = torch.rand(1, 3, 64, 96)
        with torch.no_grad():
            y = Exported(net, 96, 64)(x)[0].t()  # [N, 8]
            logits, boxes, _, _ = decode(net(x), 4)
        cx = (boxes[0, :, 0] + boxes[0, :, 2]) / 2
        w = boxes[0, :, 2] - boxes[0, :, 0]
        self.assertLess(float((y[:, 0] - cx).abs().max()), 1e-4)
        self.assertLess(float((y[:, 2] - w).abs().max()), 1e-4)
        self.assertLess(float((y[:, 4:] - logits[0].sigmoid()).abs().max()), 1e-6)

    def test_fold_bn_is_equivalent(self):
        torch.manual_seed(0)
        net = CamNet(4, "t")
        net.train()
        for _ in range(3):  # give BN non-trivial running statistics
            net(torch.rand(2, 3, 64, 64) * 2)
        net.eval()
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            a = net(x)
            b = fold_bn(net)(x)
        for u, v in zip(a, b):
            self.assertLess(float((u - v).abs().max()), 1e-4)

    def test_onnx_opencv_parity(self):
        torch.manual_seed(1)
        net = CamNet(4, "t").eval()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.onnx")
            wrapped = export(net, 128, 96, path)
            dmax, dcls, shape = compare_cv2(wrapped, path, 128, 96)
        self.assertEqual(shape[:2], (1, 8))
        self.assertLess(dcls, 1e-4)
        self.assertLess(dmax, 1e-2)


class UnbundleTest(unittest.TestCase):
    """unbundle.py: the shipped bundle's ONNX back into a trainable CamNet."""

    def test_shipped_bundle_round_trips(self):
        net, info = from_bundle(SHIPPED)
        self.assertEqual((info["preset"], info["width"], info["height"]), ("d", 672, 368))
        self.assertEqual(info["labels"], ["dome", "bullet", "ptz", "alpr"])
        wrapped = Exported(net, 672, 368).eval()
        # The rebuilt network against the bundle's own ONNX in OpenCV, on the
        # camera-like reference input and on noise.
        dmax, dcls, _ = compare_cv2(wrapped, info["onnx"], 672, 368, image=reference_input(672, 368))
        self.assertLess(dcls, 1e-5)
        self.assertLess(dmax, 1e-2)
        dmax, dcls, _ = compare_cv2(wrapped, info["onnx"], 672, 368)
        self.assertLess(dcls, 1e-5)
        # Re-exported, it is the same model again.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.onnx")
            export(net, 672, 368, path)
            again, _ = from_bundle(path)
        x = torch.from_numpy(reference_input(672, 368))
        with torch.no_grad():
            a, b = wrapped(x), Exported(again, 672, 368).eval()(x)
        self.assertLess(float((a[:, 4:] - b[:, 4:]).abs().max()), 1e-5)

    def test_calibration_keeps_the_function(self):
        net, _ = from_bundle(SHIPPED)
        x = torch.from_numpy(reference_input(672, 368))[:, :, :128, :192].contiguous()
        batch = torch.cat([x, x.flip(3), x * 0.8 + 0.1])
        with torch.no_grad():
            before = [m.clone() for m in net.eval()(batch)]
            self.assertEqual(calibrate_bn(net, [batch]), 3)
            after = net.eval()(batch)
            # Calibrated on this very batch, train mode (batch statistics)
            # computes what eval mode does.
            trained = net.train()(batch)
        for u, v, w in zip(before, after, trained):
            scale = float(u.abs().max())
            self.assertLess(float((u - v).abs().max()), 1e-4 * scale)
            self.assertLess(float((u - w).abs().max()), 1e-3 * scale)

    def test_calibration_of_a_trained_network(self):
        # Any CamNet, not only a rebuilt one: its batch norms' own scales are
        # folded first, so the function stays.
        torch.manual_seed(0)
        net = CamNet(4, "t").train()
        with torch.no_grad():
            for _ in range(3):
                net(torch.rand(2, 3, 64, 64) * 2)
            x = torch.rand(2, 3, 64, 64)
            before = [m.clone() for m in net.eval()(x)]
            calibrate_bn(net, [torch.rand(4, 3, 64, 64)])
            after = net.eval()(x)
        for u, v in zip(before, after):
            self.assertLess(float((u - v).abs().max()), 1e-4 * float(u.abs().max()))

    def test_bad_bundles(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "no model.onnx"):
                from_bundle(d)
            bad = os.path.join(d, "model.onnx")
            with open(os.path.join(SHIPPED, "model.onnx"), "rb") as f:
                data = f.read()
            with open(bad, "wb") as f:
                f.write(data[: len(data) // 2])
            with self.assertRaisesRegex(ValueError, "model.onnx: not a readable ONNX model"):
                from_bundle(d)
            # Another architecture: the reason names each preset tried.
            export(CamNet(4, "t").eval(), 96, 64, bad)
            with self.assertRaisesRegex(ValueError, "preset d: .*convolution"):
                from_bundle(bad, "d")
            net, info = from_bundle(bad)
            self.assertEqual(info["preset"], "t")
            with self.assertRaisesRegex(ValueError, "unknown CamNet preset 'zz'"):
                from_bundle(bad, "zz")


class AssignTest(unittest.TestCase):
    def setUp(self):
        self.sizes = [(160 // s, 160 // s) for s in STRIDES]
        self.centres, self.strides = make_anchors(self.sizes)

    def run_assign(self, boxes):
        n = len(self.strides)
        gt = torch.tensor([boxes], dtype=torch.float32)
        mask = torch.ones(1, len(boxes), dtype=torch.bool)
        scores = torch.full((1, n, 4), 0.01)
        pboxes = torch.cat([self.centres - 4, self.centres + 4], 1)[None]
        return assign(scores, pboxes, self.centres, self.strides, gt, mask)

    def test_tiny_box_gets_stride4_cells(self):
        fg, tboxes, tscores = self.run_assign([(2, 50, 50, 56, 55)])  # 6x5 px alpr
        self.assertGreater(int(fg.sum()), 0)
        self.assertTrue(bool((self.strides[fg[0]] == 4).all()))
        self.assertTrue(bool((tscores[0, fg[0], 2] > 0).all()))
        self.assertEqual(float(tscores[0, fg[0]][:, [0, 1, 3]].abs().sum()), 0.0)

    def test_large_box_goes_to_coarse_levels(self):
        fg, _, _ = self.run_assign([(0, 20, 20, 120, 110)])  # 100 px: strides 8 and 16
        self.assertGreater(int(fg.sum()), 0)
        self.assertTrue(bool((self.strides[fg[0]] >= 8).all()))

    def test_padding_rows_are_ignored(self):
        n = len(self.strides)
        gt = torch.zeros(1, 2, 5)
        gt[0, 0] = torch.tensor([1, 40, 40, 60, 52])
        mask = torch.tensor([[True, False]])
        pboxes = torch.cat([self.centres - 4, self.centres + 4], 1)[None]
        fg, tboxes, _ = assign(torch.full((1, n, 4), 0.01), pboxes, self.centres, self.strides, gt, mask)
        self.assertTrue(bool((tboxes[0, fg[0]] == torch.tensor([40.0, 40, 60, 52])).all()))

    def test_sparse_assign_matches_dense(self):
        torch.manual_seed(5)
        B, G = 3, 6
        n = len(self.strides)
        gt = torch.zeros(B, G, 5)
        mask = torch.rand(B, G) < 0.7
        for b in range(B):
            for g in range(G):
                w = float(torch.exp(torch.empty(1).uniform_(1.0, 4.6)))  # 3..100 px
                x, y = float(torch.rand(1)) * (160 - w), float(torch.rand(1)) * (160 - w)
                gt[b, g] = torch.tensor([float(torch.randint(0, 4, (1,))), x, y, x + w, y + w * 0.7])
        gt[1, 2, 1:] = gt[1, 1, 1:] + 1  # two boxes competing for the same cells
        scores = torch.rand(B, n, 4) * 0.5
        d = torch.rand(B, n, 4) * 12
        pboxes = torch.cat([self.centres - d[..., :2], self.centres + d[..., 2:]], -1)
        a = assign(scores, pboxes, self.centres, self.strides, gt, mask)
        b = assign_dense(scores, pboxes, self.centres, self.strides, gt, mask)
        self.assertGreater(int(a[0].sum()), 10)
        self.assertTrue(torch.equal(a[0], b[0]))
        self.assertTrue(torch.allclose(a[1][a[0]], b[1][b[0]]))
        self.assertTrue(torch.allclose(a[2], b[2], atol=1e-6))

    def test_loss_decreases_on_one_batch(self):
        torch.manual_seed(0)
        net = CamNet(4, "t")
        x = torch.rand(2, 3, 96, 96)
        gt = torch.tensor([[[0, 10, 10, 22, 20]], [[3, 40, 30, 80, 60]]], dtype=torch.float32)
        mask = torch.ones(2, 1, dtype=torch.bool)
        lf = Loss(4)
        opt = torch.optim.Adam(net.parameters(), 3e-3)
        first = None
        for _ in range(30):
            loss, _ = lf(net(x), gt, mask)
            first = first if first is not None else float(loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.assertLess(float(loss), first * 0.5)


class DataTest(unittest.TestCase):
    def test_read_labels(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "a.txt")
            with open(p, "w") as f:
                f.write("1 0.5 0.5 0.1 0.2\n\n")
            b = read_labels(p, 200, 100, 4)
            np.testing.assert_allclose(b, [[1, 90, 40, 110, 60]], atol=1e-4)
            with open(p, "w") as f:
                f.write("7 0.5 0.5 0.1 0.2\n")
            with self.assertRaisesRegex(ValueError, "a.txt:1: class 7"):
                read_labels(p, 200, 100, 4)
            self.assertEqual(read_labels(os.path.join(d, "missing.txt"), 10, 10, 4).shape, (0, 5))

    def test_crop_keeps_box_on_object(self):
        # A bright square on black: after any crop/scale its box still
        # covers the bright pixels.
        rng = np.random.default_rng(0)
        img = np.zeros((400, 400, 3), np.uint8)
        img[100:120, 200:230] = 255
        boxes = np.array([[0, 200, 100, 230, 120]], np.float32)
        for _ in range(20):
            out, b = random_crop(img, boxes, 128, rng, (0.7, 1.5), focus=1.0)
            self.assertEqual(out.shape, (128, 128, 3))
            if len(b) == 0:
                continue
            x1, y1, x2, y2 = b[0, 1:]
            ys, xs = np.nonzero(out[..., 0] > 128)
            self.assertLessEqual(abs(xs.min() - x1), 2.0)
            self.assertLessEqual(abs(ys.min() - y1), 2.0)
            self.assertLessEqual(abs(xs.max() + 1 - x2), 2.0)
            self.assertLessEqual(abs(ys.max() + 1 - y2), 2.0)

    def test_crop_drops_mostly_hidden_boxes(self):
        boxes = np.array([[0, 90, 10, 110, 20], [1, 10, 10, 20, 20]], np.float32)
        kept = crop_boxes(boxes, 0, 0, 100, 100)  # first box half outside (50% visible)
        self.assertEqual(len(kept), 2)
        np.testing.assert_allclose(kept[0], [0, 90, 10, 100, 20])
        kept = crop_boxes(boxes, 0, 0, 95, 100)  # first box 25% visible
        self.assertEqual([int(c) for c in kept[:, 0]], [1])

    def test_collate_pads(self):
        imgs, gt, mask = collate([(torch.zeros(3, 8, 8), torch.ones(2, 5)), (torch.zeros(3, 8, 8), torch.zeros(0, 5))])
        self.assertEqual(tuple(gt.shape), (2, 2, 5))
        self.assertEqual(mask.tolist(), [[True, True], [False, False]])


class MetricsTest(unittest.TestCase):
    def test_average_precision_voc_example(self):
        ap = average_precision(np.array([1, 0, 1, 0, 1], bool), np.array([0.9, 0.8, 0.7, 0.6, 0.5]), 3)
        self.assertAlmostEqual(ap, 1 / 3 + 2 / 9 + 0.2, places=9)

    def test_evaluator(self):
        ev = Evaluator(4, ["dome", "bullet", "ptz", "alpr"], 0.35)
        gt = np.array([[0, 10, 10, 20, 20], [1, 50, 50, 90, 70]], np.float32)
        ev.add([[10, 10, 20, 20], [50, 50, 90, 70], [0, 0, 5, 5]], [0.9, 0.2, 0.5], [0, 1, 2], gt)
        r = ev.summary()
        self.assertAlmostEqual(r["recall"], 0.5)  # the bullet is below the threshold
        self.assertAlmostEqual(r["precision"], 0.5)
        self.assertAlmostEqual(r["classes"]["bullet"]["ap50"], 1.0)
        self.assertAlmostEqual(r["recall_lt16"], 1.0)
        self.assertAlmostEqual(r["recall_gt32"], 0.0)


def tiny_dataset(root, n_train=6, n_val=2, size=128):
    """Writes a YOLO-layout dataset of grey images, each with one dark box."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        os.makedirs(os.path.join(root, "images", split))
        os.makedirs(os.path.join(root, "labels", split))
        for i in range(n):
            img = np.full((size, size, 3), 150, np.uint8)
            x, y, w = (int(v) for v in rng.integers(10, 80, 3) // 2 * 2)
            cv2.rectangle(img, (x, y), (x + w // 2 + 6, y + w // 3 + 6), (30, 30, 30), -1)
            cv2.imwrite(os.path.join(root, "images", split, f"{i}.jpg"), img)
            with open(os.path.join(root, "labels", split, f"{i}.txt"), "w") as f:
                f.write(f"{i % 4} {(x + w / 4 + 3) / size} {(y + w / 6 + 3) / size} {(w / 2 + 6) / size} {(w / 3 + 6) / size}\n")


def plain_types(x, path="ck"):
    """Paths in a loaded checkpoint holding anything but Python builtins and
    tensors (numpy scalars there break loading under another numpy)."""
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in plain_types(v, f"{path}.{k}")]
    if isinstance(x, (list, tuple)):
        return [p for i, v in enumerate(x) for p in plain_types(v, f"{path}[{i}]")]
    if x is None or type(x) in (str, int, float, bool) or isinstance(x, torch.Tensor):
        return []
    return [f"{path}: {type(x).__name__}"]


def load(path):
    ck = torch.load(path, map_location="cpu")
    return ck, plain_types(ck)


class TrainRunTest(unittest.TestCase):
    """train.py end to end on a tiny dataset: time budget, resume records, and
    checkpoints holding only builtins and tensors."""

    def train(self, data, out, epochs, *extra):
        cmd = [sys.executable, os.path.join(HERE, "train.py"), "--data", data, "--out", out, "--preset", "d",
               "--epochs", str(epochs), "--samples", "4", "--batch", "2", "--size", "64", "--val-every", "0",
               "--warmup", "2", *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return r.stderr

    def test_budget_then_resume(self):
        with tempfile.TemporaryDirectory() as tmp:
            data, out = os.path.join(tmp, "ds"), os.path.join(tmp, "m")
            tiny_dataset(data)
            log = self.train(data, out, 200, "--time-budget", "0.02")
            self.assertIn("--time-budget 0.02 min", log)
            ck, bad = load(os.path.join(out, "last.pt"))
            self.assertEqual(bad, [])
            cap = ck["epoch"]
            self.assertLess(cap, 200)
            self.assertEqual(ck["args"]["epochs"], cap)
            self.assertEqual(len(ck["history"]), cap)
            self.assertTrue(all(r["device"] == "cpu" and r["data"] == "ds" for r in ck["history"]))
            self.assertEqual(ck["resumes"], [])  # a fresh run records no continuation
            self.train(data, out, cap + 1)
            ck, bad = load(os.path.join(out, "last.pt"))
            self.assertEqual(bad, [])
            self.assertEqual(ck["epoch"], cap + 1)
            self.assertEqual(ck["resumes"], [{"epoch": cap, "epochs": cap + 1, "device": "cpu",
                                              "torch": str(torch.__version__), "data": "ds",
                                              "lr": 0.003, "crop": 64}])
            self.assertEqual(ck["first_run"]["lr"], 0.003)
            final, bad = load(os.path.join(out, "final.pt"))
            self.assertEqual(bad, [])
            self.assertEqual(len(final["history"]), cap + 1)
            self.assertIn("val", final["history"][-1])
            # Re-running a finished run trains nothing and records no continuation.
            self.train(data, out, cap + 1)
            ck, _ = load(os.path.join(out, "last.pt"))
            self.assertEqual(len(ck["resumes"]), 1)
            # A continued run at another rate, capped by a time budget: its
            # record keeps the rate, the planned epochs and where it ended.
            self.train(data, out, cap + 400, "--time-budget", "0.02", "--lr", "0.01")
            ck, _ = load(os.path.join(out, "last.pt"))
            r = ck["resumes"][-1]
            self.assertEqual((r["epoch"], r["epochs"], r["planned"], r["lr"], r["time_budget_min"]),
                             (cap + 1, ck["epoch"], cap + 400, 0.01, 0.02))
            self.assertLess(ck["epoch"], cap + 400)
            self.assertEqual(ck["first_run"]["lr"], 0.003)


    def test_init_from_bundle(self):
        """--init starts from the shipped model: a far lower first loss and,
        at a negligible learning rate, nearly the bundle's scores; the
        checkpoint names the bundle."""
        x = torch.from_numpy(reference_input(672, 368))
        ref, _ = from_bundle(SHIPPED)
        with torch.no_grad():
            want = Exported(ref, 672, 368).eval()(x)[:, 4:]
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "ds")
            tiny_dataset(data)
            got = {}
            for name, extra in (("init", ["--init", SHIPPED, "--lr", "1e-7", "--preset", "n"]), ("fresh", [])):
                out = os.path.join(tmp, name)
                log = self.train(data, out, 1, *extra)
                ck, bad = load(os.path.join(out, "final.pt"))
                self.assertEqual(bad, [])
                net = CamNet(4, ck["preset"])
                net.load_state_dict(ck["ema"])
                with torch.no_grad():
                    diff = float((Exported(net, 672, 368).eval()(x)[:, 4:] - want).abs().max())
                got[name] = (ck, log, diff)
        ck, log, diff = got["init"]
        self.assertIn("train: starting from", log)
        self.assertEqual(ck["preset"], "d")  # the bundle's, not --preset's
        with open(os.path.join(SHIPPED, "model.yaml")) as f:
            sha = next(l.split(":", 1)[1].strip() for l in f if l.startswith("sha256:"))
        self.assertEqual(ck["first_run"]["init"]["sha256"], sha)
        self.assertEqual(ck["first_run"]["init"]["bundle"], SHIPPED)
        fresh_ck, _, fresh_diff = got["fresh"]
        self.assertNotIn("init", fresh_ck["first_run"])
        self.assertLess(ck["history"][0]["loss"], 0.75 * fresh_ck["history"][0]["loss"])
        self.assertLess(diff, fresh_diff / 3)
        self.assertLess(diff, 0.2)
        self.assertIn("Training started from the weights of camaudit-cams-v1 1.0.0", init_text(ck))
        self.assertIn(f"`MODEL_INIT={SHIPPED} make model`", init_text(ck))
        self.assertIn(f"sha256 {sha[:12]}", schedule(ck))
        self.assertEqual(init_text(fresh_ck), "")

    def test_init_refuses_a_broken_bundle(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "ds")
            tiny_dataset(data)
            cmd = [sys.executable, os.path.join(HERE, "train.py"), "--data", data, "--out", os.path.join(tmp, "m"),
                   "--epochs", "1", "--init", tmp]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"train: --init {tmp}: {tmp}: no model.onnx", r.stderr)


def recipe_ck(epoch, first, *resumes, init=None):
    """A checkpoint's record of its runs, as train.py writes it: the first
    run's (end, lr, data), then each continuation's (start, end, lr, data)."""
    first_run = {"lr": first[1], "data": first[2], "device": "cpu"}
    if init:
        first_run["init"] = init
    target = resumes[-1][1] if resumes else first[0]
    return {"epoch": epoch, "args": {"epochs": target, "lr": first[1]}, "first_run": first_run,
            "resumes": [{"epoch": a, "epochs": b, "lr": lr, "data": d, "device": "cpu"} for a, b, lr, d in resumes]}


class RecipeTest(unittest.TestCase):
    """make model's recipe: the shipped schedule as stages of train.py."""

    STAGES = recipe.parse("10 0.004 dataset\n20 0.004 dataset\n30 0.02 walks-mix\n")

    def test_parse_errors_name_the_line(self):
        for text, want in [
            ("10 0.004\n", "r.txt:1: want 'EPOCH LR DATA'"),
            ("# c\nten 0.004 dataset\n", "r.txt:2: epoch 'ten' is not a whole number"),
            ("10 fast dataset\n", "r.txt:1: learning rate 'fast' is not a number"),
            ("10 4 dataset\n", "r.txt:1: learning rate 4 is outside"),
            ("10 0.004 dataset\n10 0.004 dataset\n", "r.txt:2: epoch 10 does not come after the stage before's 10"),
            ("# only comments\n\n", "r.txt: no stages"),
        ]:
            with self.subTest(text=text), self.assertRaisesRegex(recipe.RecipeError, want):
                recipe.parse(text, "r.txt")
        with self.assertRaisesRegex(recipe.RecipeError, "reading recipe: .*no-such.txt"):
            recipe.read(os.path.join(HERE, "no-such.txt"))

    def test_shipped_recipe_ends_where_the_shipped_model_did(self):
        stages = recipe.read(os.path.join(HERE, "recipe.txt"))
        with open(os.path.join(SHIPPED, "model.yaml")) as f:
            import yaml
            epochs = yaml.safe_load(f)["training"]["epochs"]
        self.assertEqual(stages[-1].end, epochs)
        self.assertEqual({s.data for s in stages}, {"dataset", "walks-mix"})
        # The walk frames join late: every stage on them comes after those without.
        first_walks = next(i for i, s in enumerate(stages) if s.data == "walks-mix")
        self.assertTrue(all(s.data == "walks-mix" for s in stages[first_walks:]))

    def test_next_stage(self):
        st = self.STAGES
        for name, ck, want in [
            ("nothing trained", None, 0),
            ("first stage interrupted", recipe_ck(7, (10, 0.004, "dataset")), 0),
            ("first stage done", recipe_ck(10, (10, 0.004, "dataset")), 1),
            ("second stage interrupted", recipe_ck(13, (10, 0.004, "dataset"), (10, 20, 0.004, "dataset")), 1),
            ("warm restart done", recipe_ck(30, (10, 0.004, "dataset"), (10, 20, 0.004, "dataset"),
                                            (20, 30, 0.02, "walks-mix")), 3),
        ]:
            with self.subTest(name):
                self.assertEqual(recipe.next_stage(st, ck), want)
        for name, ck, want in [
            ("another end", recipe_ck(12, (10, 0.004, "dataset"), (10, 25, 0.004, "dataset")),
             "its run from epoch 10 went to epoch 25 .* no stage ending at 25 \\(its stages end at 10, 20, 30\\)"),
            ("another rate", recipe_ck(10, (10, 0.01, "dataset")), "stage to 10 is at 0.004 on dataset"),
            ("other data", recipe_ck(20, (10, 0.004, "dataset"), (10, 20, 0.004, "walks-mix")),
             "went to epoch 20 at learning rate 0.004 on walks-mix; the recipe's stage to 20 is at 0.004 on dataset"),
            ("fine-tuning", recipe_ck(10, (10, 0.004, "dataset"), init={"bundle": "models/x"}),
             "ck is a fine-tuning run from models/x"),
        ]:
            with self.subTest(name), self.assertRaisesRegex(recipe.RecipeError, want):
                recipe.next_stage(st, ck, "ck")

    def test_card_sentence(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "r.txt")
            with open(path, "w") as f:
                f.write("10 0.004 dataset\n20 0.004 dataset\n30 0.02 walks-mix\n")
            ck = recipe_ck(25, (10, 0.004, "dataset"), (10, 20, 0.004, "dataset"), (20, 30, 0.02, "walks-mix"))
            ck["resumes"][0]["device"] = "NVIDIA H200"
            text = schedule(ck, path)
            self.assertIn(f"following its recipe (`{path}`)", text)
            self.assertIn("1-10 at 0.004 on `build/dataset`; 11-20 at 0.004 on `build/dataset`, on an NVIDIA H200; "
                          "21-25 (of 30) at 0.02 on `build/walks-mix`.", text)
            # A checkpoint from another schedule gets the run-by-run sentence.
            other = recipe_ck(12, (10, 0.004, "dataset"), (10, 12, 0.004, "dataset"))
            self.assertEqual(recipe_text(other, path), "")
            self.assertIn("`MODEL_EPOCHS=12 make model` from epoch 10", schedule(other, path))

    def test_compare_with_the_card(self):
        card = ("- **More training.** Validation AP50 by epoch (* on the whole val split, 578 images; the others "
                "on its first 200): 5: 0.163, 10: 0.252, 10: 0.300*, 12: 0.409* — still rising.\n")
        curve = recipe.card_curve(card)
        self.assertEqual(curve, {5: (0.163, False), 10: (0.3, True), 12: (0.409, True)})
        self.assertEqual(recipe.card_curve("no such line"), {})

        def val(epoch, ap, images):
            return {"epoch": epoch, "val": {"ap50": ap, "images": images}}
        ck = {"args": {"val_limit": 200},
              "history": [{"epoch": 1}, val(5, 0.17, 200), val(10, 0.31, 578), val(11, 0.5, 200), val(12, 0.4, 200)]}
        # Before a run's first whole-split validation, its subset ones still count as such.
        self.assertEqual(recipe.compare({"args": ck["args"], "history": ck["history"][:2]}, curve),
                         [(5, 0.17, 0.163, False)])
        # Epoch 12 was validated on the first 200 images here and on the whole
        # split in the card: not comparable, left out.
        self.assertEqual(recipe.compare(ck, curve), [(5, 0.17, 0.163, False), (10, 0.31, 0.3, True)])

    def test_check_against_the_card(self):
        """check sets each held-out figure beside the reference's 95 % interval."""
        import io
        import yaml

        def manifest(m, thr=0.15):
            return {"threshold": thr, "metrics": m}
        ref = manifest({"ap50": 0.5, "verified_ap50": 0.55, "verified_ap50_low": 0.53, "verified_ap50_high": 0.57,
                        "verified_recall_small": 0.3, "verified_recall_small_low": 0.26, "verified_recall_small_high": 0.33,
                        "detector_ap50": 0.54, "detector_ap50_low": 0.52, "detector_ap50_high": 0.56})
        good = manifest({"ap50": 0.9, "verified_ap50": 0.56, "verified_recall_small": 0.27, "detector_ap50": 0.52})
        rows = recipe.check(good, ref)
        # With verifiers in both, the bundle's own ap50 (whose meaning
        # differs with the flow that wrote it) is left out.
        self.assertEqual([(r[0], r[1], r[5]) for r in rows],
                         [("with the verifier", "ap50", "inside"), ("with the verifier", "recall_small", "inside"),
                          ("detector alone", "ap50", "inside")])
        out = io.StringIO()
        self.assertTrue(recipe.print_check("new", "ref", good, ref, rows, out))
        self.assertIn("all 2 AP50 figures inside the reference's intervals", out.getvalue())
        self.assertIn("with the verifier, recall_small     0.270  0.300     -0.030  0.260-0.330 inside", out.getvalue())
        self.assertNotIn("at the threshold", out.getvalue())
        bad = manifest({"verified_ap50": 0.50, "verified_recall_small": 0.31, "detector_ap50": 0.54}, thr=0.2)
        out = io.StringIO()
        self.assertFalse(recipe.print_check("new", "ref", bad, ref, recipe.check(bad, ref), out))
        self.assertIn("1 of 2 AP50 figures outside", out.getvalue())
        self.assertIn("default thresholds differ (0.2 and 0.15)", out.getvalue())
        # A figure at the threshold outside its interval is shown, not judged.
        shifted = manifest({"verified_ap50": 0.56, "verified_recall_small": 0.35, "detector_ap50": 0.53})
        out = io.StringIO()
        self.assertTrue(recipe.print_check("new", "ref", shifted, ref, recipe.check(shifted, ref), out))
        self.assertIn("matches the reference", out.getvalue())
        self.assertIn("at the threshold, 1 figure(s) outside (with the verifier recall_small)", out.getvalue())
        # No verifier on one side: the bundles' own figures; a reference
        # without intervals gets no verdict, and check fails.
        plain = manifest({"ap50": 0.5, "recall": 0.4})
        rows = recipe.check(plain, ref)
        self.assertEqual([(r[0], r[1], r[5]) for r in rows], [("held-out set", "ap50", "no interval")])
        out = io.StringIO()
        self.assertFalse(recipe.print_check("new", "ref", plain, ref, rows, out))
        self.assertIn("no verdict", out.getvalue())
        with tempfile.TemporaryDirectory() as tmp:
            for name, m in (("good", good), ("bad", bad), ("ref", ref)):
                os.makedirs(os.path.join(tmp, name))
                with open(os.path.join(tmp, name, "model.yaml"), "w") as f:
                    yaml.safe_dump(m, f)

            def cli(*args):
                return subprocess.run([sys.executable, os.path.join(HERE, "recipe.py"), "check", *args],
                                      capture_output=True, text=True)
            r = cli("--bundle", os.path.join(tmp, "good"), "--against", os.path.join(tmp, "ref", "model.yaml"))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = cli("--bundle", os.path.join(tmp, "bad"), "--against", os.path.join(tmp, "ref"))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("does not match the reference", r.stdout)
            r = cli("--bundle", os.path.join(tmp, "nowhere"), "--against", os.path.join(tmp, "ref"))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(os.path.join(tmp, "nowhere"), r.stderr)
            with open(os.path.join(tmp, "staged.yaml"), "w") as f:
                f.write("name: x\n")
            r = cli("--bundle", os.path.join(tmp, "staged.yaml"))
            self.assertIn("staged.yaml: no metrics", r.stderr)
        # The shipped bundle carries its intervals and matches itself.
        r = subprocess.run([sys.executable, os.path.join(HERE, "recipe.py"), "check", "--bundle",
                            os.path.join(HERE, "..", "..", "models", "camaudit-cams-v1")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("all 4 AP50 figures inside", r.stdout)

    def test_run_two_stages_then_resume_nothing(self):
        """recipe.py runs train.py per stage on a tiny data set: the second
        stage is a warm restart on other data, recorded as such; a second
        call trains nothing; a checkpoint from another schedule is refused
        before any training."""
        tiny = ["--preset", "d", "--samples", "4", "--batch", "2", "--size", "64", "--val-every", "0", "--warmup", "2"]
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("ds", "ds2"):
                tiny_dataset(os.path.join(tmp, name))
            rfile, out = os.path.join(tmp, "r.txt"), os.path.join(tmp, "m")
            with open(rfile, "w") as f:
                f.write("1 0.003 ds\n2 0.01 ds2\n")
            def run(*extra, recipe_file=rfile):
                return subprocess.run([sys.executable, os.path.join(HERE, "recipe.py"), "run", "--recipe", recipe_file,
                                       "--out", out, "--data", f"ds={tmp}/ds", "--data", f"ds2={tmp}/ds2", *extra,
                                       "--", *tiny], capture_output=True, text=True, cwd=HERE)
            r = run()
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertIn("recipe: stage 1/2: epochs 1-1 at base learning rate 0.003 on ds", r.stderr)
            self.assertIn("recipe: stage 2/2: epochs 2-2 at base learning rate 0.01 on ds2", r.stderr)
            ck, bad = load(os.path.join(out, "last.pt"))
            self.assertEqual(bad, [])
            self.assertEqual(ck["epoch"], 2)
            self.assertEqual((ck["first_run"]["lr"], ck["first_run"]["data"]), (0.003, "ds"))
            self.assertEqual([(x["epoch"], x["epochs"], x["lr"], x["data"]) for x in ck["resumes"]],
                             [(1, 2, 0.01, "ds2")])
            self.assertEqual([h["data"] for h in ck["history"]], ["ds", "ds2"])
            self.assertIn("1-1 at 0.003 on `build/ds`; 2-2 at 0.01 on `build/ds2`", recipe_text(ck, rfile))
            # Each stage's model is kept, the first one's no longer final.pt.
            s1, s2 = (torch.load(recipe.stage_path(out, e), map_location="cpu") for e in (1, 2))
            self.assertEqual([len(s1["history"]), len(s2["history"])], [1, 2])
            w = next(k for k in s1["ema"] if k.endswith("conv.weight"))
            self.assertFalse(torch.equal(s1["ema"][w], s2["ema"][w]), f"{w} did not change in the second stage")
            r = run()
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertIn("recipe: all 2 stages done", r.stderr)
            self.assertNotIn("train:", r.stderr)
            again = load(os.path.join(out, "last.pt"))[0]
            self.assertEqual((again["step"], len(again["history"]), again["resumes"]),
                             (ck["step"], len(ck["history"]), ck["resumes"]))
            # Another recipe for the same checkpoint: refused, nothing trained.
            other = os.path.join(tmp, "other.txt")
            with open(other, "w") as f:
                f.write("1 0.003 ds\n3 0.01 ds2\n")
            r = run(recipe_file=other)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("went to epoch 2 at learning rate 0.01 on ds2; the recipe has no stage ending at 2", r.stderr)
            self.assertIn("MODEL_FRESH=1", r.stderr)
            self.assertEqual(load(os.path.join(out, "last.pt"))[0]["epoch"], 2)
            # A data set the recipe names but the call does not give.
            r = subprocess.run([sys.executable, os.path.join(HERE, "recipe.py"), "run", "--recipe", rfile,
                                "--out", out, "--data", f"ds={tmp}/ds"], capture_output=True, text=True, cwd=HERE)
            self.assertIn("trains on 'ds2', but no --data ds2=DIR was given", r.stderr)


class WalksTest(unittest.TestCase):
    """walks.py: random training walks and their YOLO labels (the rendering
    itself is tested from Go, TestWalkFrames, with a real camaudit)."""

    def test_scenario_is_deterministic_and_sane(self):
        a, b, c = walk_scenario(5000, ""), walk_scenario(5000, ""), walk_scenario(5001, "/bg")
        self.assertEqual(a, b)
        self.assertNotEqual(a["cameras"], c["cameras"])
        self.assertEqual(c["backgrounds"], "/bg")
        self.assertNotIn("backgrounds", a)
        for sc in (a, c, walk_scenario(5002, ""), walk_scenario(5003, "")):
            ids = [cam["id"] for cam in sc["cameras"]]
            self.assertEqual(len(ids), len(set(ids)))
            self.assertGreaterEqual(len(ids), 10)
            streets = {st["id"] for st in sc["streets"]}
            for cam in sc["cameras"]:
                self.assertIn(cam["type"], WALK_NAMES)
                self.assertIn(cam["at"]["street"], streets)
                self.assertEqual("offset_m" in cam["at"], cam["mount"] in ("pole", "street_lamp"))
            self.assertEqual(sc["device"]["fps"], 2)
            self.assertGreaterEqual(len(sc["route"]["points"]), 2)
            self.assertNotIn(sc["seed"], (20, 22))  # the firmware's test walks

    def test_replayable_scenario(self):
        train, test = walk_scenario(9000, ""), walk_scenario(9000, "", 10, "test")
        self.assertEqual(test["device"]["fps"], 10)
        self.assertEqual(test["name"], "test-walk-9000")
        self.assertEqual(train["name"], "train-walk-9000")
        # Only the frame rate and the name differ: the same streets and cameras.
        self.assertEqual(train["cameras"], test["cameras"])
        self.assertEqual(train["route"], test["route"])

    def test_labels(self):
        boxes = [{"type": "bullet", "box": [100, 50, 140, 70], "visible": 1},
                 {"type": "dome", "box": [-10, 0, 10, 20], "visible": 0.8},      # clipped at the left edge
                 {"type": "ptz", "box": [10, 10, 30, 30], "visible": 0.1},      # hidden
                 {"type": "alpr", "box": [10, 10, 12, 12], "visible": 1},       # too small
                 {"type": "person", "box": [10, 10, 50, 50], "visible": 1}]     # not a camera class
        rows = walk_labels(boxes, 200, 100, 0.3, 4)
        self.assertEqual(rows, ["1 0.600000 0.600000 0.200000 0.200000",
                                "0 0.025000 0.100000 0.050000 0.200000"])
        self.assertEqual(walk_labels(None, 200, 100, 0.3, 4), [])


class VerifyTest(unittest.TestCase):
    """The verifier's crops (shared with Go), export and a tiny training run."""

    def test_crop_rects_match_go(self):
        # detect/verify_test.go's TestCropRects checks Go's cropRects on the same cases.
        import json
        with open(os.path.join(HERE, "..", "testdata", "verify-crops.json")) as f:
            cases = json.load(f)
        self.assertGreaterEqual(len(cases), 5)
        for c in cases:
            got = verify.crop_rects(c["box"], c["frame"][0], c["frame"][1])
            want = None if c["src"] is None else (tuple(c["src"]), tuple(c["dst"]))
            self.assertEqual(got, want, c["name"])

    def test_crop_is_grey_outside_the_frame(self):
        img = np.zeros((100, 100, 3), np.uint8)
        out = verify.crop(img, (0, 0, 10, 10))
        self.assertEqual(out.shape, (32, 32, 3))
        self.assertTrue((out[:8, :8] == verify.PAD).all())  # above-left of the frame
        self.assertTrue((out[-8:, -8:] == 0).all())  # inside the (black) frame

    def test_export_parity_and_probabilities(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "v.onnx")
            diff = verify.export(verify.Verifier().eval(), path)  # raises on a mismatch
            self.assertLess(diff, 1e-4)
            net = cv2.dnn.readNetFromONNX(path)
            net.setInput(np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32))
            p = net.forward()
            self.assertEqual(p.shape, (1, 1 + len(verify.LABELS)))
            self.assertAlmostEqual(float(p.sum()), 1.0, places=4)

    def test_train_and_install(self):
        """Two epochs on a toy set: red squares are cameras, grey ones the detector's false boxes."""
        import json
        import shutil
        import yaml
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "set")
            os.makedirs(os.path.join(data, "images", "train"))
            os.makedirs(os.path.join(data, "labels", "train"))
            errs = os.path.join(tmp, "errors.jsonl")
            rng = np.random.default_rng(2)
            with open(errs, "w") as ef:
                for i in range(40):
                    img = np.full((96, 96, 3), 60, np.uint8)
                    x, y = (int(v) for v in rng.integers(10, 70, 2))
                    img[y:y + 12, x:x + 12] = (0, 0, 255)
                    img[70:82, 70:82] = 200
                    name = os.path.join(data, "images", "train", f"{i:03d}.png")
                    cv2.imwrite(name, img)
                    with open(os.path.join(data, "labels", "train", f"{i:03d}.txt"), "w") as f:
                        f.write(f"{i % 4} {(x + 6) / 96} {(y + 6) / 96} {12 / 96} {12 / 96}\n")
                    ef.write(json.dumps({"image": name, "kind": "false", "reason": "background",
                                         "class": "dome", "box": [70, 70, 82, 82]}) + "\n")
            bundle = os.path.join(tmp, "bundle")
            shutil.copytree(os.path.join(HERE, "..", "..", "models", "camaudit-cams-v1"), bundle)
            out = os.path.join(tmp, "out")
            ev = os.path.join(tmp, "on.json")
            with open(ev, "w") as f:
                json.dump({"ap50": 0.61234, "precision": 0.7, "recall": 0.5, "agnostic_ap50": 0.65,
                           "ms_per_image": 50.0, "sizes": [{"recall": 0.2}], "false": [],
                           "intervals": {"resamples": 1000, "level": 0.95, "ap50": [0.6, 0.63], "agnostic_ap50": [0.64, 0.66],
                                         "precision": [0.69, 0.71], "recall": [0.48, 0.52],
                                         "size_recall": [[None, None], [0.1, 0.2], [0.3, 0.4]]}}, f)
            off = os.path.join(tmp, "off.json")
            with open(off, "w") as f:
                json.dump({"ap50": 0.5, "precision": 0.4, "recall": 0.6, "agnostic_ap50": 0.55,
                           "ms_per_image": 40.0, "sizes": [{"recall": 0.25}], "false": []}, f)
            r = subprocess.run([sys.executable, os.path.join(HERE, "verify.py"), "--data", data, "--errors", errs,
                                "--out", out, "--epochs", "2", "--threads", "1", "--bundle", bundle, "--install",
                                "--eval-on", ev, "--eval-off", off],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("epoch 2/2", r.stderr)
            with open(os.path.join(out, "verifier.json")) as f:
                rep = json.load(f)
            self.assertTrue(0 < rep["threshold"] < 1, rep)
            with open(os.path.join(bundle, "model.yaml")) as f:
                text = f.read()
            self.assertTrue(text.startswith("# camaudit model bundle"), "the manifest's comment line was lost")
            m = yaml.safe_load(text)
            self.assertEqual(m["verifier"]["labels"], ["background"] + verify.LABELS)
            self.assertEqual(m["verifier"]["sha256"], verify.sha256(os.path.join(bundle, "verifier.onnx")))
            self.assertEqual(m["verifier"]["threshold"], round(rep["threshold"], 3))
            self.assertEqual(m["metrics"]["verified_ap50"], 0.6123)
            # Intervals where the report has them (not for recall < 16 px
            # here); the detector alone from the --eval-off report, without.
            self.assertEqual((m["metrics"]["verified_ap50_low"], m["metrics"]["verified_ap50_high"]), (0.6, 0.63))
            self.assertEqual(m["metrics"]["verified_recall_small"], 0.2)
            self.assertEqual((m["metrics"]["detector_ap50"], m["metrics"]["detector_recall_small"]), (0.5, 0.25))
            for k in ("verified_recall_small_low", "detector_ap50_low"):
                self.assertNotIn(k, m["metrics"])
            with open(os.path.join(bundle, "MODEL_CARD.md")) as f:
                card = f.read()
            self.assertEqual(card.count("## Verifier"), 1, "the card's Verifier section was not replaced")
            self.assertIn(m["verifier"]["sha256"], card)
            self.assertIn("| AP50 | 0.500 | 0.612 (0.600-0.630) |", card)
            self.assertIn("| recall < 16 px | 0.250 | 0.200 |", card)
            # An errors file that is not JSON is named with its line.
            with open(errs, "a") as ef:
                ef.write("not json\n")
            r = subprocess.run([sys.executable, os.path.join(HERE, "verify.py"), "--data", data, "--errors", errs,
                                "--out", out, "--epochs", "1"], capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("errors.jsonl:41: not JSON", r.stderr)


class CardTextTest(unittest.TestCase):
    def test_walk_lines(self):
        self.assertIn("none (`MODEL_WALKS=0`)", walks_line({}))
        line = walks_line({"walks_cmd": "detect/train/walks.py --n 2", "walks": 2, "walk_frames": 30, "walk_boxes": 99})
        self.assertIn("`detect/train/walks.py --n 2` — 30 frames (99 labelled cameras) of 2 simulated walks", line)
        self.assertIn("(none recorded", more_metrics([]))
        ev = {"tile_scale": 0.5, "images": 10, "objects": 40, "precision": 0.5, "recall": 0.25, "ap50": 0.3,
              "sizes": [{"recall": 0.1}, {"recall": 0.2}, {"recall": 0.7}]}
        self.assertIn("| walks | 0.5 | 10 | 40 | 0.500 | 0.250 | 0.300 | 0.100 | 0.200 | 0.700 |",
                      more_metrics([("walks", ev)]))

    def test_intervals(self):
        ev = {"classes": [], "objects": 3, "precision": 0.5, "recall": 0.5, "ap50": 0.51234, "agnostic_precision": 0.5,
              "agnostic_recall": 0.5, "agnostic_ap50": 0.6, "f1": 0.5,
              "sizes": [{"name": "<16", "objects": 1, "precision": 0.5, "recall": 0.2, "ap50": 0.3},
                        {"name": "16-32", "objects": 1, "precision": 0.5, "recall": 0.6, "ap50": 0.5},
                        {"name": "32+", "objects": 1, "precision": 0.5, "recall": 0.9, "ap50": 0.8}]}
        # A report from before the intervals: figures alone, no note.
        self.assertEqual(cell(ev, "ap50", bold=True), "**0.512**")
        self.assertEqual(figures(ev, "x_"), {"x_ap50": 0.5123, "x_agnostic_ap50": 0.6, "x_precision": 0.5,
                                             "x_recall": 0.5, "x_recall_small": 0.2})
        self.assertNotIn("In brackets", metrics_tables(ev))
        ev["intervals"] = {"resamples": 1000, "level": 0.95, "ap50": [0.49, 0.53], "agnostic_ap50": [0.58, 0.62],
                           "precision": [0.45, 0.55], "recall": [0.45, 0.55],
                           "size_recall": [[0.15, 0.25], [None, None], [0.85, 0.95]]}
        self.assertEqual(cell(ev, "ap50", bold=True), "**0.512** (0.490-0.530)")
        self.assertEqual(cell(ev, "recall_small"), "0.200 (0.150-0.250)")
        m = figures(ev)
        self.assertEqual((m["ap50_low"], m["ap50_high"], m["recall_small_low"]), (0.49, 0.53, 0.15))
        text = metrics_tables(ev)
        self.assertIn("| **all (mean of classes)** | 3 | 0.500 (0.450-0.550) | 0.500 (0.450-0.550) | **0.512** (0.490-0.530) |", text)
        self.assertIn("| <16 px | 1 | 0.500 | 0.200 (0.150-0.250) | 0.300 |", text)
        self.assertIn("| 16-32 px | 1 | 0.500 | 0.600 | 0.500 |", text)
        self.assertIn("In brackets: 95 % intervals over the images (1000 bootstrap draws", text)

    def test_error_table(self):
        ev = {"classes": [], "sizes": [], "objects": 3, "precision": 0.5, "recall": 0.5, "ap50": 0.5,
              "agnostic_precision": 0.5, "agnostic_recall": 0.5, "agnostic_ap50": 0.6,
              "missed": [{"reason": "low_score", "count": 5, "by_size": [3, 1, 1]},
                         {"reason": "not_found", "count": 2, "by_size": [2, 0, 0]}],
              "false": [{"reason": "background", "count": 4, "by_size": [0, 1, 3]}]}
        text = metrics_tables(ev)
        self.assertIn("| missed: low_score (boxed under the threshold) | 5 | 3 | 1 | 1 |", text)
        self.assertIn("| missed: not_found (no box on it) | 2 | 2 | 0 | 0 |", text)
        self.assertIn("| false detection: background (on no camera: a look-alike or clutter) | 4 | 0 | 1 | 3 |", text)
        ev["missed"].append({"reason": "wrong_type", "count": 1, "by_size": [1, 0, 0]})
        bullet = errors_bullet(ev)
        self.assertIn("Of 8 cameras missed, 5 are boxed under the threshold, 2 not boxed at all (2 of those "
                      "under 16 px) and 1 boxed as another type; of 4 false detections, 4 lie on no camera.", bullet)
        self.assertIn("does not believe them", bullet)
        # The card's list of what would close the gap carries it.
        self.assertIn(bullet, targets(dict(ev, sizes=[{"recall": 0.2}]), {"fps_1080p": 18.0}, []))
        # Mostly unseen cameras and type errors, few look-alikes: another reading.
        unseen = dict(ev, missed=[{"reason": "low_score", "count": 0, "by_size": [0, 0, 0]},
                                  {"reason": "not_found", "count": 2, "by_size": [2, 0, 0]},
                                  {"reason": "wrong_type", "count": 1, "by_size": [1, 0, 0]}],
                      false=[{"reason": "background", "count": 1, "by_size": [0, 1, 0]},
                             {"reason": "wrong_type", "count": 3, "by_size": [0, 0, 3]}])
        self.assertIn("does not see at all", errors_bullet(unseen))
        # An evaluation from before the error counts has no such table.
        del ev["missed"], ev["false"]
        self.assertNotIn("missed:", metrics_tables(ev))
        self.assertEqual(errors_bullet(ev), "")

    def test_schedule_names_a_change_of_data(self):
        ck = {"resumes": [{"epoch": 10, "epochs": 20, "data": "dataset"},
                          {"epoch": 20, "epochs": 30, "data": "walks-mix"}]}
        text = schedule(ck)
        self.assertIn("`MODEL_EPOCHS=20 make model` from epoch 10; then `MODEL_EPOCHS=30 make model` from epoch 20, "
                      "training on `build/walks-mix` from there on", text)


    def test_schedule_and_hardware(self):
        hist = [{"epoch": 1, "seconds": 1800.0}, {"epoch": 2, "seconds": 1800.0, "device": "cpu"},
                {"epoch": 3, "seconds": 7.0, "device": "NVIDIA H200"}, {"epoch": 4, "seconds": 8.0, "device": "NVIDIA H200"}]
        self.assertEqual(hardware(hist), "epochs 1-2 on this 2-core machine's CPU (1.00 h); "
                                         "epochs 3-4 on an NVIDIA H200 GPU (0 min)")
        ck = {"resumes": [{"epoch": 1, "epochs": 2},
                          {"epoch": 2, "epochs": 4, "device": "NVIDIA H200", "torch": "2.11", "time_budget_min": 7.5}]}
        text = schedule(ck)
        self.assertIn("trained in 3 runs: `make model` with 1 epochs, then `MODEL_EPOCHS=2 make model` from epoch 1; "
                      "then epochs 3-4 on an NVIDIA H200 (PyTorch 2.11; `MODEL_DEVICE=cuda MODEL_TIME_BUDGET=7.5 make model`)",
                      text)
        self.assertEqual(schedule({}), "")

    def test_schedule_names_changed_settings_and_time_budgets(self):
        # A checkpoint from before the first run's settings were kept: make
        # model's defaults, so a continued run at another rate says so.
        ck = {"args": {"lr": 0.025, "size": 320},
              "resumes": [{"epoch": 10, "epochs": 20, "time_budget_min": 75},
                          {"epoch": 20, "epochs": 27, "planned": 40, "time_budget_min": 30, "lr": 0.025, "crop": 416},
                          {"epoch": 27, "epochs": 30, "device": "NVIDIA H100", "torch": "2.11", "lr": 0.025, "crop": 320}]}
        self.assertEqual(first_settings(ck), {"lr": 0.004, "crop": 320})
        text = schedule(ck)
        self.assertIn("`MODEL_TIME_BUDGET=75 make model` from epoch 10, which the time budget ended at epoch 20; "
                      "then `MODEL_LR=0.025 MODEL_CROP=416 MODEL_EPOCHS=40 MODEL_TIME_BUDGET=30 make model` from "
                      "epoch 20, which the time budget ended at epoch 27; then epochs 28-30 on an NVIDIA H100 "
                      "(PyTorch 2.11; `MODEL_LR=0.025 MODEL_DEVICE=cuda make model`)", text)
        # The first run's own settings, once kept, are the baseline.
        ck["first_run"] = {"lr": 0.025, "crop": 320}
        self.assertIn("then `MODEL_CROP=416 MODEL_EPOCHS=40", schedule(ck))
        self.assertEqual(first_settings({"args": {"lr": 0.01, "size": 384}}), {"lr": 0.01, "crop": 384})

    def test_tile_thresholds(self):
        got = tile_thresholds(["0.5=0.35", "2=0.25", "0.25=0.4"])
        self.assertEqual(got, [{"scale": 0.25, "threshold": 0.4}, {"scale": 0.5, "threshold": 0.35},
                               {"scale": 2.0, "threshold": 0.25}])
        self.assertEqual(tile_thresholds([]), [])
        for bad, words in [("0.5", "SCALE=THRESHOLD"), ("a=0.3", "SCALE=THRESHOLD"), ("1=0.3", "not 1"),
                           ("0=0.3", "(0, 16]"), ("0.5=1.2", "(0, 1)")]:
            with self.assertRaises(SystemExit) as cm:
                tile_thresholds([bad])
            self.assertIn(repr(bad), str(cm.exception))
            self.assertIn(words, str(cm.exception))
        with self.assertRaises(SystemExit) as cm:
            tile_thresholds(["0.5=0.35", "0.50=0.4"])
        self.assertIn("given twice", str(cm.exception))
        self.assertEqual(threshold_text(0.275, []), "0.275")
        self.assertTrue(threshold_text(0.275, got[1:2]).startswith("0.275 at tile scale 1, 0.35 at tile scale 0.5 ("))

    def test_targets_say_whether_training_still_pays(self):
        ev = {"ap50": 0.5, "sizes": [{"recall": 0.2}]}
        speed = {"fps_1080p": 18.0}

        def hist(last_run):
            h = [{"epoch": 5, "val": {"images": 200, "ap50": 0.30}}, {"epoch": 10, "val": {"images": 578, "ap50": 0.40}}]
            h += [{"epoch": 15 + 5 * i, "val": {"images": 200, "ap50": v}} for i, v in enumerate(last_run)]
            return h + [{"epoch": 40, "val": {"images": 578, "ap50": 0.45}}]

        flat = targets(ev, speed, hist([0.44, 0.445, 0.45, 0.443]))
        self.assertIn("| 1920×1080 frames/s on one core, tiled | ≥ 10 | 18.0 | yes |", flat)
        self.assertIn("10: 0.400*", flat)
        self.assertIn("still rising from run to run", flat)
        self.assertIn("stayed between 0.440 and 0.450, so more epochs of this recipe now buy little", flat)
        rising = targets(ev, speed, hist([0.40, 0.42, 0.44, 0.46]))
        self.assertIn("More epochs is the first step", rising)
        self.assertIn("| AP50, all classes, held-out set | ≥ 0.90 | 0.500 | **no** |", rising)
        # With the evaluation's intervals, the reached figures carry them.
        ev["intervals"] = {"ap50": [0.48, 0.52], "size_recall": [[0.17, 0.23], [0.5, 0.6], [0.7, 0.8]]}
        with_iv = targets(ev, speed, hist([0.40, 0.42, 0.44, 0.46]))
        self.assertIn("| AP50, all classes, held-out set | ≥ 0.90 | 0.500 (0.480-0.520) | **no** |", with_iv)
        self.assertIn("| recall of cameras < 16 px | ≥ 0.80 | 0.200 (0.170-0.230) | **no** |", with_iv)


if __name__ == "__main__":
    unittest.main()
