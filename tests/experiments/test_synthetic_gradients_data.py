"""Parsers and error paths of the synthetic-gradient datasets, on tiny files in tmp_path."""

import gzip
import pickle

import numpy as np
import pytest

from sobolev_lab.experiments.synthetic_gradients.data import (
    CIFAR10_FILES,
    MNIST_FILES,
    DataError,
    load_dataset,
    read_cifar10,
    read_idx,
    read_mnist,
)


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    return header + arr.tobytes()


def write_mnist(root, n_train=6, n_test=4, gz=("train-images-idx3-ubyte",)):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if name in gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


def test_read_idx_roundtrip_big_endian_int32(tmp_path):
    arr = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(arr, 0x0C))
    out = read_idx(tmp_path / "a")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype.byteorder in ("=", "|", "<")


def test_read_mnist_parses_plain_and_gzip_files(tmp_path):
    arrays = write_mnist(tmp_path)
    ds = read_mnist(tmp_path)
    assert ds.x_train.shape == (6, 20) and ds.x_test.shape == (4, 20)
    assert ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    # Standardised with training statistics; order of samples preserved.
    raw = arrays["train-images-idx3-ubyte"].reshape(6, -1) / 255.0
    expected = (raw - raw.mean(0)) / raw.std(0)
    np.testing.assert_allclose(ds.x_train, expected, rtol=1e-4, atol=1e-5)


def test_missing_mnist_directory_names_every_expected_file(tmp_path):
    with pytest.raises(DataError) as err:
        read_mnist(tmp_path / "nowhere")
    for name in MNIST_FILES:
        assert name in str(err.value)


def test_mnist_with_one_file_missing_says_which(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        read_mnist(tmp_path)


def test_truncated_idx_file_is_malformed(tmp_path):
    write_mnist(tmp_path, gz=())
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="malformed MNIST.*announces shape"):
        read_mnist(tmp_path)


def test_bad_magic_number_is_malformed(tmp_path):
    write_mnist(tmp_path, gz=())
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x01\x02garbage")
    with pytest.raises(DataError, match="not an IDX file"):
        read_mnist(tmp_path)


def test_mismatched_image_and_label_counts_are_malformed(tmp_path):
    write_mnist(tmp_path, gz=())
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="malformed MNIST train"):
        read_mnist(tmp_path)


def write_cifar(root, per_batch=3, nested=True):
    folder = root / "cifar-10-batches-py" if nested else root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i, name in enumerate(CIFAR10_FILES):
        doc = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [(i + j) % 10 for j in range(per_batch)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(doc, fh)
    return folder


@pytest.mark.parametrize("nested", [True, False])
def test_read_cifar10_parses_python_batches(tmp_path, nested):
    write_cifar(tmp_path, nested=nested)
    ds = read_cifar10(tmp_path)
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.y_train.tolist() == [(i + j) % 10 for i in range(5) for j in range(3)]
    # Per-channel standardisation over the training images.
    np.testing.assert_allclose(ds.x_train.mean((0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std((0, 2, 3)), 1.0, rtol=1e-4)


def test_missing_cifar_directory_names_expected_files(tmp_path):
    with pytest.raises(DataError) as err:
        read_cifar10(tmp_path)
    msg = str(err.value)
    assert "cifar-10-batches-py" in msg
    for name in CIFAR10_FILES:
        assert name in msg


def test_malformed_cifar_batch(tmp_path):
    folder = write_cifar(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="malformed CIFAR-10 batch .*data_batch_3"):
        read_cifar10(tmp_path)


def test_cifar_batch_with_wrong_row_size(tmp_path):
    folder = write_cifar(tmp_path)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DataError, match=r"expected \(N, 3072\)"):
        read_cifar10(tmp_path)


def test_load_dataset_checks_name_and_data_dir():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="--set data_dir="):
        load_dataset("mnist")


def test_digits_split_is_fixed_stratified_and_standardised():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1438, 64) and ds.x_test.shape == (359, 64)
    assert np.bincount(ds.y_test, minlength=10).min() >= 35
    np.testing.assert_allclose(ds.x_train.mean(0), 0.0, atol=1e-5)
    val = ds.validation_split()
    assert len(val.y_train) + len(val.y_test) == len(ds.y_train)
    assert len(val.y_test) == round(len(ds.y_train) / 6)


def test_mnist1d_is_generated_offline_split_and_standardised():
    pytest.importorskip("mnist1d")
    ds = load_dataset("mnist1d")
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.x_train.dtype == np.float32 and set(np.unique(ds.y_train)) == set(range(10))
    np.testing.assert_allclose(ds.x_train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(0), 1.0, atol=1e-4)
    # The package's fixed seed: a second generation gives the same arrays.
    load_dataset.cache_clear()
    again = load_dataset("mnist1d")
    np.testing.assert_array_equal(again.x_test, ds.x_test)
