"""Datasets for the synthetic-gradient study, read offline with numpy only.

* ``digits``: scikit-learn's bundled 8x8 digits (1797 images), always available.
* ``mnist1d``: MNIST-1D (Greydanus), 4000 train and 1000 test sequences of length 40,
  generated offline by the ``mnist1d`` package with its default arguments (its
  ``get_dataset`` downloads and is never called).
* ``mnist``: the standard IDX files in a directory the user points to::

      train-images-idx3-ubyte  train-labels-idx1-ubyte
      t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte     (each optionally .gz)

* ``cifar10``: the CIFAR-10 python batches, in ``DIR/cifar-10-batches-py/`` or in
  ``DIR`` itself: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.

Nothing is ever downloaded. A missing or malformed directory raises one
:class:`DataError` naming the files that were expected.

Inputs are standardised with statistics of the training split only (per feature for
the MLP datasets after scaling to [0, 1], per channel for CIFAR-10).
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_FILES",
    "DATASETS",
    "MNIST_FILES",
    "DataError",
    "Dataset",
    "load_dataset",
    "read_cifar10",
    "read_idx",
    "read_mnist",
]

DATASETS = ("digits", "mnist1d", "mnist", "cifar10")
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataError(ValueError):
    """A dataset directory is missing, incomplete or holds malformed files."""


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and evaluation parts.

    Attributes
    ----------
    name : str
    x_train : ndarray, shape (N, *input_shape), float32
    y_train : ndarray, shape (N,), int64 in [0, n_classes)
    x_test : ndarray, shape (M, *input_shape), float32
    y_test : ndarray, shape (M,), int64
    n_classes : int
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input: (d,) for flat data, (C, H, W) for images."""
        return tuple(self.x_train.shape[1:])

    def validation_split(self, fraction: float = 1 / 6, seed: int = 0) -> Dataset:
        """Hold out ``fraction`` of the training set (fixed ``seed``) as the evaluation set.

        Used to choose settings without looking at the test set.
        """
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(self.y_train))
        n_val = max(1, round(fraction * len(perm)))
        val, tr = perm[:n_val], perm[n_val:]
        return Dataset(
            self.name + "-validation",
            self.x_train[tr],
            self.y_train[tr],
            self.x_train[val],
            self.y_train[val],
            self.n_classes,
        )


# -- file formats -------------------------------------------------------------------
def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), optionally gzip-compressed.

    The header is two zero bytes, a type code, the number of dimensions ``k`` and
    ``k`` big-endian uint32 sizes; the data follow in C order.

    Raises
    ------
    DataError
        If the file is truncated, has a bad magic number or an unknown type code.
    """
    path = Path(path)
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4]!r})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes) but the file "
            f"holds {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_mnist(data_dir: str | os.PathLike) -> Dataset:
    """MNIST from the four standard IDX files in ``data_dir``, inputs flattened to 784."""
    directory = Path(data_dir)
    expected = ", ".join(MNIST_FILES)
    paths = {name: _find(directory, name) for name in MNIST_FILES}
    missing = [n for n, p in paths.items() if p is None]
    if not directory.is_dir() or missing:
        raise DataError(
            f"MNIST not found in {str(directory)!r}: expected the IDX files {expected} "
            f"(each optionally .gz); missing {', '.join(missing)}"
        )
    try:
        arrays = {n: read_idx(p) for n, p in paths.items()}
    except DataError as exc:
        raise DataError(f"malformed MNIST directory (expected {expected}): {exc}") from exc
    parts = []
    for split in ("train", "t10k"):
        x, y = arrays[f"{split}-images-idx3-ubyte"], arrays[f"{split}-labels-idx1-ubyte"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
            raise DataError(
                f"malformed MNIST {split} files in {str(directory)!r}: images of shape "
                f"{x.shape} (expected (N, rows, cols)) and labels of shape {y.shape} "
                "(expected (N,))"
            )
        parts.append((x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)))
    return _standardised("mnist", *parts[0], *parts[1], n_classes=10, axis=0)


def _cifar_dir(data_dir: Path) -> Path:
    nested = data_dir / "cifar-10-batches-py"
    return nested if nested.is_dir() else data_dir


def read_cifar10(data_dir: str | os.PathLike) -> Dataset:
    """CIFAR-10 from the python batches; images (N, 3, 32, 32)."""
    directory = _cifar_dir(Path(data_dir))
    expected = "cifar-10-batches-py/{" + ", ".join(CIFAR10_FILES) + "}"
    missing = [n for n in CIFAR10_FILES if not (directory / n).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 not found in {str(data_dir)!r}: expected the python batches {expected}; "
            f"missing {', '.join(missing)}"
        )
    batches = []
    for name in CIFAR10_FILES:
        path = directory / name
        try:
            with open(path, "rb") as fh:
                doc = pickle.load(fh, encoding="bytes")
            data = np.asarray(doc[b"data"], dtype=np.uint8)
            labels = np.asarray(doc[b"labels"], dtype=np.int64)
        except Exception as exc:
            raise DataError(
                f"malformed CIFAR-10 batch {path} (expected a pickled dict with b'data' "
                f"(N, 3072) uint8 and b'labels'; files {expected}): {exc}"
            ) from exc
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise DataError(
                f"malformed CIFAR-10 batch {path}: data of shape {data.shape} (expected "
                f"(N, 3072)) and {len(labels)} labels"
            )
        batches.append((data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels))
    x_tr = np.concatenate([b[0] for b in batches[:5]])
    y_tr = np.concatenate([b[1] for b in batches[:5]])
    return _standardised("cifar10", x_tr, y_tr, *batches[5], n_classes=10, axis=(0, 2, 3))


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    # A fixed stratified split (seed 0), the same for every run and method.
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, size=round(0.2 * len(idx)), replace=False)] = True
    return _standardised("digits", x[~test], y[~test], x[test], y[test], n_classes=10, axis=0)


def _mnist1d() -> Dataset:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise DataError(
            "dataset 'mnist1d' needs the mnist1d package: pip install mnist1d "
            "(it is in the lab extra)"
        ) from exc
    # make_dataset builds the sequences from templates with the package's fixed seed.
    d = make_dataset(get_dataset_args())
    x_tr, x_te = (np.asarray(d[k], dtype=np.float32) for k in ("x", "x_test"))
    y_tr, y_te = (np.asarray(d[k], dtype=np.int64) for k in ("y", "y_test"))
    return _standardised("mnist1d", x_tr, y_tr, x_te, y_te, n_classes=10, axis=0)


def _standardised(name, x_tr, y_tr, x_te, y_te, *, n_classes: int, axis) -> Dataset:
    if y_tr.min() < 0 or max(y_tr.max(), y_te.max()) >= n_classes or y_te.min() < 0:
        raise DataError(f"{name}: labels must lie in [0, {n_classes}), got values outside")
    mean = x_tr.mean(axis=axis, keepdims=True)
    # Constant pixels (digits' and MNIST's borders) keep scale 1 instead of dividing by 0.
    std = x_tr.std(axis=axis, keepdims=True)
    std = np.where(std > 1e-6, std, 1.0)
    f = np.float32
    return Dataset(
        name,
        ((x_tr - mean) / std).astype(f),
        y_tr,
        ((x_te - mean) / std).astype(f),
        y_te,
        n_classes,
    )


@lru_cache(maxsize=4)
def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load ``name`` (one of :data:`DATASETS`); MNIST and CIFAR-10 need ``data_dir``.

    Raises
    ------
    ValueError
        For an unknown name, or ``data_dir`` missing for a dataset that needs it.
    DataError
        For a missing or malformed data directory.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if name == "digits":
        return _digits()
    if name == "mnist1d":
        return _mnist1d()
    if data_dir is None:
        raise ValueError(
            f"dataset {name!r} is read from local files: pass data_dir (--set data_dir=DIR) "
            + (
                f"holding {', '.join(MNIST_FILES)}"
                if name == "mnist"
                else "holding cifar-10-batches-py/"
            )
        )
    return read_mnist(data_dir) if name == "mnist" else read_cifar10(data_dir)
