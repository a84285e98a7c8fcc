"""YOLO-layout dataset reader and augmentation for CamNet training.

Reads the layout `camaudit sim dataset` writes (contracts.md C):
DIR/images/{train,val}/*.jpg and DIR/labels/{train,val}/*.txt with one
`class cx cy w h` line per box (normalised to the image size); an empty or
missing label file is a negative image.

Training samples are square crops (default 320 px) of randomly rescaled images,
biased towards crops that contain a camera, sometimes a 2x2 mosaic of four
half-size crops from four images, flipped left-right and colour-jittered. Boxes
are returned in crop pixels (x1, y1, x2, y2).
"""

import os

import cv2
import numpy as np
import torch

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
PAD = 114


def list_split(root, split):
    """Returns sorted (image path, label path) pairs of a split; errors name the folder."""
    idir = os.path.join(root, "images", split)
    ldir = os.path.join(root, "labels", split)
    if not os.path.isdir(idir):
        raise FileNotFoundError(f"dataset {root}: no images folder {idir}")
    pairs = []
    for name in sorted(os.listdir(idir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTS:
            pairs.append((os.path.join(idir, name), os.path.join(ldir, stem + ".txt")))
    if not pairs:
        raise FileNotFoundError(f"dataset {root}: no images in {idir}")
    return pairs


def read_labels(path, width, height, nc):
    """Reads a YOLO label file as float32 [K, 5] rows (cls, x1, y1, x2, y2) in pixels."""
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 5:
                    raise ValueError(f"{path}:{n}: want 'class cx cy w h', got {line.strip()!r}")
                c = int(parts[0])
                if not 0 <= c < nc:
                    raise ValueError(f"{path}:{n}: class {c} outside 0..{nc - 1}")
                cx, cy, w, h = (float(v) for v in parts[1:])
                rows.append((c, (cx - w / 2) * width, (cy - h / 2) * height,
                             (cx + w / 2) * width, (cy + h / 2) * height))
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def load(pair, nc):
    """Loads one (image, labels) pair: BGR uint8 image and [K, 5] pixel boxes."""
    img = cv2.imread(pair[0], cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {pair[0]}")
    h, w = img.shape[:2]
    return img, read_labels(pair[1], w, h, nc)


def crop_boxes(boxes, x0, y0, size_w, size_h, min_vis=0.4, min_side=3.0):
    """Shifts boxes into a crop at (x0, y0) and keeps those mostly inside it."""
    if len(boxes) == 0:
        return boxes
    b = boxes.copy()
    b[:, [1, 3]] -= x0
    b[:, [2, 4]] -= y0
    area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    c = b.copy()
    c[:, [1, 3]] = c[:, [1, 3]].clip(0, size_w)
    c[:, [2, 4]] = c[:, [2, 4]].clip(0, size_h)
    carea = (c[:, 3] - c[:, 1]).clip(0) * (c[:, 4] - c[:, 2]).clip(0)
    keep = (carea >= min_vis * np.maximum(area, 1e-6)) & \
           (np.maximum(c[:, 3] - c[:, 1], c[:, 4] - c[:, 2]) >= min_side)
    return c[keep]


def random_crop(img, boxes, size, rng, scale_range, focus=0.7):
    """Cuts a size x size crop at a random scale (padded with 114).

    The window is chosen in the original image (size / scale pixels wide) and
    only that window is resized, which keeps augmentation cheap.
    """
    lo, hi = scale_range
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    h, w = img.shape[:2]
    win = size / s
    if len(boxes) and rng.random() < focus:
        b = boxes[rng.integers(len(boxes))]
        cx, cy = (b[1] + b[3]) / 2, (b[2] + b[4]) / 2
        x0 = cx - rng.uniform(0.1, 0.9) * win
        y0 = cy - rng.uniform(0.1, 0.9) * win
    else:
        x0 = rng.uniform(min(0.0, w - win), max(0.0, w - win))
        y0 = rng.uniform(min(0.0, h - win), max(0.0, h - win))
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    iw = int(np.ceil(win)) + 1
    sx0, sy0 = max(ix0, 0), max(iy0, 0)
    sx1, sy1 = min(ix0 + iw, w), min(iy0 + iw, h)
    region = np.full((iw, iw, 3), PAD, dtype=np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        region[sy0 - iy0:sy1 - iy0, sx0 - ix0:sx1 - ix0] = img[sy0:sy1, sx0:sx1]
    # Map window pixels [ix0, ix0 + iw) onto [0, iw * s) then keep size px.
    rs = iw * s
    n = max(size, int(round(rs)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = cv2.resize(region, (n, n), interpolation=interp)[:size, :size]
    if out.shape[0] < size or out.shape[1] < size:
        out = cv2.copyMakeBorder(out, 0, size - out.shape[0], 0, size - out.shape[1],
                                 cv2.BORDER_CONSTANT, value=(PAD, PAD, PAD))
    k = n / iw
    b = boxes.copy()
    b[:, [1, 3]] = (b[:, [1, 3]] - ix0) * k
    b[:, [2, 4]] = (b[:, [2, 4]] - iy0) * k
    return out, crop_boxes(b, 0, 0, size, size)


def colour_jitter(img, rng):
    """HSV gains, gamma, occasional blur and sensor noise (in place on a copy)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-3, 3)) % 180
    hsv[..., 1] *= rng.uniform(0.5, 1.5)
    hsv[..., 2] *= rng.uniform(0.6, 1.4)
    img = cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if rng.random() < 0.3:
        g = rng.uniform(0.7, 1.4)
        lut = (np.linspace(0, 1, 256) ** g * 255).astype(np.uint8)
        img = cv2.LUT(img, lut)
    if rng.random() < 0.15:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.4, 1.0))
    if rng.random() < 0.2:
        noise = np.empty(img.shape, np.int16)
        cv2.randn(noise, 0, float(rng.uniform(2, 8)))
        img = cv2.add(img.astype(np.int16), noise).clip(0, 255).astype(np.uint8)
    return img


def to_tensor(img_bgr):
    """BGR uint8 HxWx3 -> float RGB [3, H, W] scaled to 0..1 (the bundle's input)."""
    rgb = img_bgr[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)


class TrainSet(torch.utils.data.Dataset):
    """Random augmented crops; an epoch is `length` samples drawn with a seed."""

    def __init__(self, root, split="train", nc=4, size=320, length=None, seed=1,
                 scale_range=(0.75, 1.5), mosaic=0.3):
        self.pairs = list_split(root, split)
        self.nc, self.size, self.seed = nc, size, seed
        self.length = length or len(self.pairs)
        self.scale_range, self.mosaic = scale_range, mosaic
        self.epoch = 0

    def __len__(self):
        return self.length

    def set_epoch(self, epoch):
        """Changes the random stream so every epoch sees different crops."""
        self.epoch = epoch

    def _crop(self, idx, size, rng):
        img, boxes = load(self.pairs[idx % len(self.pairs)], self.nc)
        return random_crop(img, boxes, size, rng, self.scale_range)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i))
        idx = int(rng.integers(len(self.pairs)))
        if rng.random() < self.mosaic:
            half = self.size // 2
            img = np.empty((self.size, self.size, 3), np.uint8)
            parts = []
            for q in range(4):
                j = idx if q == 0 else int(rng.integers(len(self.pairs)))
                c, b = self._crop(j, half, rng)
                ox, oy = (q % 2) * half, (q // 2) * half
                img[oy:oy + half, ox:ox + half] = c
                b = b.copy()
                b[:, [1, 3]] += ox
                b[:, [2, 4]] += oy
                parts.append(b)
            boxes = np.concatenate(parts, 0)
        else:
            img, boxes = self._crop(idx, self.size, rng)
        if rng.random() < 0.5:
            img = img[:, ::-1]
            boxes = boxes.copy()
            x1 = self.size - boxes[:, 3]
            x2 = self.size - boxes[:, 1]
            boxes[:, 1], boxes[:, 3] = x1, x2
        img = colour_jitter(np.ascontiguousarray(img), rng)
        return to_tensor(img), torch.from_numpy(boxes)


def letterbox(img, width, height):
    """Resizes keeping aspect into width x height, padding with 114; returns (img, scale, dx, dy)."""
    h, w = img.shape[:2]
    s = min(width / w, height / h)
    nw, nh = int(round(w * s)), int(round(h * s))
    out = np.full((height, width, 3), PAD, np.uint8)
    dx, dy = (width - nw) // 2, (height - nh) // 2
    out[dy:dy + nh, dx:dx + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out, s, dx, dy


class EvalSet(torch.utils.data.Dataset):
    """Whole images, padded on the right/bottom to a multiple of 32 (no resize)."""

    def __init__(self, root, split="val", nc=4, limit=0):
        self.pairs = list_split(root, split)
        if limit:
            self.pairs = self.pairs[:limit]
        self.nc = nc

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        img, boxes = load(self.pairs[i], self.nc)
        h, w = img.shape[:2]
        ph, pw = -h % 32, -w % 32
        if ph or pw:
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(PAD, PAD, PAD))
        return to_tensor(img), torch.from_numpy(boxes)


def collate(batch):
    """Stacks images; pads boxes to [B, G, 5] with a [B, G] validity mask."""
    imgs = torch.stack([b[0] for b in batch])
    g = max([len(b[1]) for b in batch] + [1])
    boxes = torch.zeros(len(batch), g, 5)
    mask = torch.zeros(len(batch), g, dtype=torch.bool)
    for i, (_, b) in enumerate(batch):
        boxes[i, :len(b)] = b
        mask[i, :len(b)] = True
    return imgs, boxes, mask
