import os
import stat

import pytest
import torch
from PIL import Image
from torchvision import datasets

from ganzoo.classes import resolve_class
from ganzoo.data import evaluation_data, load_dataset, to_shape
from ganzoo.errors import DataError, NoTestSplit, UsageError

from conftest import SHARED_DATASETS, blob_images, write_idx, write_mnist_like


def test_mnist_from_raw_idx_files(mnist_like_root):
    train = load_dataset("mnist", mnist_like_root)
    assert train.images.shape == (200, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.long and train.labels[:12].tolist() == list(range(10)) + [0, 1]
    expected, _ = blob_images(20, size=28, seed=1)
    assert torch.equal(train.images[:, 0], expected)
    assert train.class_names[7] == "7 - seven" and train.num_classes == 10
    test = load_dataset("mnist", mnist_like_root, train=False)
    assert len(test) == 50


def test_gzip_only_folder_is_read_without_writing_into_it(tmp_path):
    root = tmp_path / "readonly"
    raw = root / "FashionMNIST" / "raw"
    images, labels = blob_images(3, size=28)
    write_idx(raw, "train", images, labels, compress=True)
    write_idx(raw, "t10k", images, labels, compress=True)
    before = sorted(os.listdir(raw))
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        data = load_dataset("fashion-mnist", root)
    finally:
        raw.chmod(stat.S_IRWXU)
    assert sorted(os.listdir(raw)) == before
    assert torch.equal(data.images[:, 0], images)
    assert data.class_names[7] == "Sneaker"


def test_missing_data_offline_names_folder_and_files(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", tmp_path / "empty")
    message = str(caught.value)
    assert f"mnist is not in {tmp_path / 'empty' / 'MNIST' / 'raw'} and could not be downloaded" in message
    assert "train-images-idx3-ubyte.gz" in message and "--data-dir" in message
    assert "\n" not in message
    assert not (tmp_path / "empty").exists()  # the failed download made it, and took it back


def test_a_failed_download_leaves_the_data_folder_as_it_was(tmp_path, monkeypatch):
    """A failed MNIST load left MNIST/raw/ inside the user's --data-dir."""
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    with pytest.raises(DataError):
        load_dataset("mnist", mine)
    assert sorted(p.name for p in mine.iterdir()) == ["notes"]


def test_unknown_dataset_suggests_names():
    with pytest.raises(UsageError, match="unknown dataset 'mnsit'; did you mean 'mnist'"):
        load_dataset("mnsit", "/nonexistent")


def _write_png(path, value, size=(12, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=value if mode == "L" else (value, value, value)).save(path)


def test_image_folder_loads_resizes_and_skips_non_images(tmp_path):
    root = tmp_path / "pets"
    for i in range(3):
        _write_png(root / "cat" / f"{i}.png", 30)
        _write_png(root / "dog" / f"{i}.png", 220)
    (root / "cat" / "notes.txt").write_text("not an image")
    data = load_dataset("imagefolder", root, channels=1, image_size=8)
    assert data.images.shape == (6, 1, 8, 8)
    assert data.class_names == ["cat", "dog"]
    assert data.images[data.labels == 0].float().mean() < 50 < data.images[data.labels == 1].float().mean()


def test_image_folder_with_a_corrupt_image_names_the_file(tmp_path):
    root = tmp_path / "pets"
    _write_png(root / "cat" / "0.png", 30)
    (root / "dog").mkdir()
    (root / "dog" / "bad.png").write_bytes(b"this is no png")
    with pytest.raises(DataError, match=r"bad\.png is not a readable image"):
        load_dataset("imagefolder", root, channels=3, image_size=8)


def test_a_picture_too_large_to_read_safely_is_refused_not_warned_of(tmp_path, recwarn):
    """A 10000x10000 PNG printed Pillow's raw DecompressionBombWarning and trained on."""
    from PIL import Image

    root = tmp_path / "pets"
    _write_png(root / "cat" / "0.png", 30)
    (root / "dog").mkdir()
    Image.new("L", (10_000, 10_000)).save(root / "dog" / "huge.png")  # 100 megapixels, a small file
    with pytest.raises(DataError, match=r"huge\.png is too large to read safely \(Image size \(100000000 pixels\)"):
        load_dataset("imagefolder", root, channels=3, image_size=8)
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_a_flat_image_folder_is_one_class_named_after_it_in_both_splits(tmp_path):
    root = tmp_path / "faces"
    for i in range(3):
        _write_png(root / f"{i}.png", 100)
    _write_png(root / ".hidden.png", 100)
    (root / "README.txt").write_text("about these faces")
    data = load_dataset("imagefolder", root, channels=3, image_size=8)
    assert data.images.shape == (3, 3, 8, 8) and data.class_names == ["faces"] and data.labels.tolist() == [0, 0, 0]
    with pytest.raises(NoTestSplit, match="has no test/ sub-folder"):
        load_dataset("imagefolder", root, train=False, channels=3, image_size=8)
    for i in range(2):  # a flat test/ beside the flat training images: the same one class
        _write_png(root / "test" / f"{i}.png", 100)
    assert load_dataset("imagefolder", root, train=False, channels=3, image_size=8).class_names == ["faces"]
    assert len(load_dataset("imagefolder", root, channels=3, image_size=8)) == 3  # test/ is not training data


def test_image_folder_classes_at_any_depth_and_a_test_folder_beside_them(tmp_path):
    root = tmp_path / "pets"
    _write_png(root / "cat" / "2019" / "a.png", 30)
    _write_png(root / "cat" / "b.png", 30)
    _write_png(root / "dog" / "c.png", 220)
    _write_png(root / "test" / "cat" / "d.png", 30)
    _write_png(root / "test" / "dog" / "e.png", 220)
    train = load_dataset("imagefolder", root, channels=1, image_size=8)
    assert train.class_names == ["cat", "dog"] and train.labels.tolist() == [0, 0, 1]  # not a class named "test"
    test = load_dataset("imagefolder", root, train=False, channels=1, image_size=8)
    assert test.class_names == ["cat", "dog"] and test.labels.tolist() == [0, 1]


@pytest.mark.parametrize("layout, message", [
    ({"a.png": 1, "cat/b.png": 1}, "holds both image files and sub-folders"),
    ({"cat/b.png": 1, "dog/notes.txt": 0}, r"class folder .*dog holds no images"),
    ({"notes.txt": 0}, "holds no image files"),
])
def test_image_folder_layouts_that_cannot_be_read_say_why(tmp_path, layout, message):
    root = tmp_path / "data"
    for name, is_png in layout.items():
        if is_png:
            _write_png(root / name, 50)
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("text")
    with pytest.raises(DataError, match=message):
        load_dataset("imagefolder", root, channels=1, image_size=8)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("imagefolder", tmp_path / "nowhere", channels=1, image_size=8)


def test_without_a_test_split_evaluation_holds_out_every_tenth_image_of_each_class(tmp_path):
    root = tmp_path / "pets"
    for i in range(25):
        _write_png(root / "cat" / f"{i:02d}.png", 30)
    for i in range(3):
        _write_png(root / "dog" / f"{i:02d}.png", 220)
    data = evaluation_data("imagefolder", root, channels=1, image_size=8)
    assert data.held_out and data.split_name == "held-out tenth of train"
    assert data.test.labels.tolist() == [0, 0, 0, 1]  # cats 0, 10, 20; dog 0
    assert data.judge_train.labels.tolist() == [0] * 22 + [1] * 2
    assert data.test.class_names == data.judge_train.class_names == ["cat", "dog"]
    whole = load_dataset("imagefolder", root, channels=1, image_size=8)
    assert torch.equal(data.test.images[:3], whole.images[[0, 10, 20]])
    # --real-split: the held-out tenth, or the whole training split (the judge still learns from nine tenths)
    assert data.real_side("test") == ("held-out tenth of train", data.test)
    name, training = data.real_side("train")
    assert name == "train" and torch.equal(training.images, whole.images) and training.labels.tolist() == [0] * 25 + [1] * 3
    with pytest.raises(UsageError, match="--real-split must be test or train, got 'valid'"):
        data.real_side("valid")
    assert evaluation_data("imagefolder", root, channels=1, image_size=8, train=whole).test.labels.tolist() == [0, 0, 0, 1]
    (root / "dog" / "01.png").unlink(), (root / "dog" / "02.png").unlink()
    with pytest.raises(DataError, match="class 'dog' has 1 image"):
        evaluation_data("imagefolder", root, channels=1, image_size=8)
    split = evaluation_data("mnist", write_mnist_like(tmp_path / "mnist"), channels=1, image_size=28)
    assert not split.held_out and split.split_name == "test" and len(split.test) == 50 and len(split.judge_train) == 200
    assert split.real_side("train") == ("train", split.judge_train) and split.real_side("test") == ("test", split.test)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_grey_images_are_scaled_not_clipped(tmp_path, suffix):
    """Pillow's convert("L") clips 16-bit grey at 255 (a scan turned white); both image readers scale it."""
    import numpy as np

    from ganzoo.evaluate.images import read_image_set

    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    for k in range(2):
        (tmp_path / "scans" / f"c{k}").mkdir(parents=True)
        Image.fromarray(ramp).save(tmp_path / "scans" / f"c{k}" / f"0{suffix}")
    expected = torch.from_numpy(np.rint(ramp / 257.0).astype(np.uint8))
    data = load_dataset("imagefolder", tmp_path / "scans", channels=1, image_size=16)
    assert torch.equal(data.images[0, 0], expected)
    colour = load_dataset("imagefolder", tmp_path / "scans", channels=3, image_size=16)
    assert torch.equal(colour.images[1], expected.expand(3, -1, -1))
    read = read_image_set(tmp_path / "scans", progress=False)
    assert read.images.shape == (2, 1, 16, 16) and torch.equal(read.images[0, 0], expected)


def test_to_shape_converts_channels_and_size():
    grey = torch.randint(0, 255, (4, 1, 28, 28), dtype=torch.uint8)
    assert to_shape(grey, 3, 32).shape == (4, 3, 32, 32)
    colour = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    assert to_shape(colour, 1, 28).shape == (4, 1, 28, 28)


@pytest.mark.parametrize("spec, index", [("3", 3), ("sneaker", 7), ("Ankle boot", 9), ("ankle-boot", 9), ("t-shirt-top", 0)])
def test_resolve_class_by_index_or_name(spec, index):
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert resolve_class(spec, names) == index


def test_resolve_class_mnist_words_and_bad_class():
    names = [f"{i} - {w}" for i, w in enumerate("zero one two three four five six seven eight nine".split())]
    assert resolve_class("seven", names) == 7
    with pytest.raises(UsageError, match=r"class '10' does not exist; valid classes: 0=0 - zero, .*9=9 - nine"):
        resolve_class("10", names)


@pytest.mark.skipif(not (SHARED_DATASETS / "mnist-5k").is_dir(), reason="../shared/datasets is not present (fresh clone)")
def test_real_mnist_5k_loads():
    data = load_dataset("mnist", SHARED_DATASETS / "mnist-5k")
    assert data.images.shape == (5000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == [500] * 10


def test_cifar10_from_its_python_batches(tmp_path, monkeypatch):
    """torchvision's CIFAR-10 layout, written by the test; checksums are those of these files."""
    import pickle

    import numpy as np

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, _ in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, None] for n, _ in datasets.CIFAR10.train_list])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [[n, None] for n, _ in datasets.CIFAR10.test_list])
    monkeypatch.setitem(datasets.CIFAR10.meta, "md5", None)
    data = load_dataset("cifar10", tmp_path, channels=3, image_size=32)
    assert data.images.shape == (20, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels.tolist()[:4] == [0, 1, 2, 9] and data.class_names[9] == "truck"
    raw = pickle.loads((folder / "data_batch_1").read_bytes())["data"][0].reshape(3, 32, 32)
    assert torch.equal(data.images[0], torch.from_numpy(raw))
