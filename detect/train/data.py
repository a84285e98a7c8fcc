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
        # Keep the window inside the image where it fits (less padding; the
        # object stays inside because it lies in the image).
        if win <= w:
            x0 = min(max(x0, 0.0), w - win)
        if win <= h:
            y0 = min(max(y0, 0.0), h - win)
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
    """Colour gains and saturation (one 3x3 colour transform), brightness and
    contrast, gamma, occasional blur and sensor noise. Returns a new image."""
    sat = rng.uniform(0.5, 1.5)
    gains = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.6, 1.4)
    luma = np.array([0.114, 0.587, 0.299])  # B, G, R weights
    m = (sat * np.eye(3) + (1 - sat) * np.tile(luma, (3, 1))) * gains[:, None]
    off = rng.uniform(-20, 20)
    img = cv2.transform(img, np.hstack([m, np.full((3, 1), off)]).astype(np.float32))
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
    """Random augmented crops; an epoch is `length` crops drawn with a seed.

    Each item decodes one image (four for a mosaic) and returns `per_image`
    crops of it, which halves JPEG decoding per crop; `collate` flattens them.
    """

    def __init__(self, root, split="train", nc=4, size=320, length=None, seed=1,
                 scale_range=(0.75, 1.5), mosaic=0.3, per_image=2):
        self.pairs = list_split(root, split)
        self.nc, self.size, self.seed = nc, size, seed
        self.per_image = per_image
        self.length = length or len(self.pairs)
        self.scale_range, self.mosaic = scale_range, mosaic
        self.epoch = 0

    def __len__(self):
        return max(1, self.length // self.per_image)

    def set_epoch(self, epoch):
        """Changes the random stream so every epoch sees different crops."""
        self.epoch = epoch

    def _load(self, idx):
        return load(self.pairs[idx % len(self.pairs)], self.nc)

    def _one(self, srcs, rng, mosaic):
        if mosaic:
            half = self.size // 2
            img = np.empty((self.size, self.size, 3), np.uint8)
            parts = []
            for q, (src, sb) in enumerate(srcs):
                c, b = random_crop(src, sb, half, rng, self.scale_range)
                ox, oy = (q % 2) * half, (q // 2) * half
                img[oy:oy + half, ox:ox + half] = c
                b = b.copy()
                b[:, [1, 3]] += ox
                b[:, [2, 4]] += oy
                parts.append(b)
            boxes = np.concatenate(parts, 0)
        else:
            img, boxes = random_crop(srcs[0][0], srcs[0][1], self.size, rng, self.scale_range)
        if rng.random() < 0.5:
            img = img[:, ::-1]
            boxes = boxes.copy()
            x1 = self.size - boxes[:, 3]
            x2 = self.size - boxes[:, 1]
            boxes[:, 1], boxes[:, 3] = x1, x2
        img = colour_jitter(np.ascontiguousarray(img), rng)
        return to_tensor(img), torch.from_numpy(boxes)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i))
        idx = int(rng.integers(len(self.pairs)))
        mosaic = rng.random() < self.mosaic
        srcs = [self._load(idx)]
        if mosaic:
            srcs += [self._load(int(rng.integers(len(self.pairs)))) for _ in range(3)]
        out = []
        for k in range(self.per_image):
            if mosaic and k:
                srcs = srcs[1:] + srcs[:1]  # another image in the top-left quadrant
            out.append(self._one(srcs, rng, mosaic))
        return out


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
    """Stacks images; pads boxes to [B, G, 5] with a [B, G] validity mask.

    Items may be (image, boxes) pairs or lists of them (TrainSet).
    """
    if batch and isinstance(batch[0], list):
        batch = [pair for item in batch for pair in item]
    imgs = torch.stack([b[0] for b in batch])
    g = max([len(b[1]) for b in batch] + [1])
    boxes = torch.zeros(len(batch), g, 5)
    mask = torch.zeros(len(batch), g, dtype=torch.bool)
    for i, (_, b) in enumerate(batch):
        boxes[i, :len(b)] = b
        mask[i, :len(b)] = True
    return imgs, boxes, mask
