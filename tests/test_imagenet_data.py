"""The image-folder pipeline: labels from synsets, odd images converted, bad files masked and counted."""

import os

import numpy as np
import jax
import pytest
from PIL import Image

from imagenet import data
from imagenet.transform import preprocess
from imagenet_tiny import smooth_image, write_bad_files, write_folder


@pytest.fixture
def folder(tmp_path):
    root = write_folder(tmp_path / "set", 10)
    (root / "holiday").mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(5), 50, 50)).save(root / "holiday" / "beach.png")
    Image.fromarray(smooth_image(np.random.default_rng(6), 50, 60)).save(root / "ILSVRC2012_val_00000001.JPEG")
    Image.fromarray(smooth_image(np.random.default_rng(7), 50, 60)).save(root / "loose.png")
    (root / "README.txt").write_text("not an image extension: ignored")
    return root


def test_folder_items_labels(folder):
    items = data.folder_items(folder)
    labels = {i.path.split("/set/")[1]: i.label for i in items}
    assert len(items) == 13
    assert labels["ILSVRC2012_val_00000001.JPEG"] == 65  # sea snake, from the ImageNet val ground truth
    assert labels["loose.png"] == -1 and labels["holiday/beach.png"] == -1
    assert labels["n01440764/img000.png"] == 0 and labels["n01443537/img001.jpg"] == 1
    assert [i.path for i in items] == [i.path for i in data.folder_items(folder)]  # a fixed order


def test_folder_errors(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.folder_items(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(data.DataError, match="no image files"):
        data.folder_items(tmp_path / "empty")
    few = write_folder(tmp_path / "few", 5)
    with pytest.raises(data.DataError, match="need more than --val 5"):
        data.split_items(data.folder_items(few), 10, 5, jax.random.key(0))


def test_a_folder_of_text_files_named_jpg_is_told_it_holds_no_image(tmp_path):
    """Not an image comes first, before any count of files against --val."""
    (tmp_path / "texts").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "texts" / name).write_text("just some notes\n")
    with pytest.raises(data.DataError) as e:
        data.split_items(data.folder_items(tmp_path / "texts"), 16, 2, jax.random.key(0))
    message = str(e.value)
    assert "a.jpg: not an image" in message and "--val" not in message and "\n" not in message


def test_split_is_disjoint_seeded_and_sized(folder):
    items = data.folder_items(folder)
    train, val = data.split_items(items, 8, 3, jax.random.key(1))
    assert (len(train), len(val)) == (8, 3)
    assert not {i.path for i in train} & {i.path for i in val}
    assert (train, val) == data.split_items(items, 8, 3, jax.random.key(1))
    assert (train, val) != data.split_items(items, 8, 3, jax.random.key(2))
    short_train, short_val = data.split_items(items, 100, 3, jax.random.key(1))
    assert len(short_train) == 10 and short_val == val  # the held-out split keeps its size


def test_odd_modes_become_rgb(tmp_path):
    """CMYK, LA, palette with transparency, 16-bit and 1-bit images decode to uint8 RGB."""
    paths = {}
    cmyk = Image.new("CMYK", (40, 40), (0, 0, 0, 0))  # no ink: white
    cmyk.save(paths.setdefault("cmyk", tmp_path / "cmyk.jpg"), quality=95)
    la = np.zeros((40, 40, 2), np.uint8)
    la[:, :20] = (80, 255)  # opaque gray
    la[:, 20:] = (80, 0)  # fully transparent: the white background shows
    Image.fromarray(la, "LA").save(paths.setdefault("la", tmp_path / "la.png"))
    p = Image.new("P", (40, 40), 0)
    p.putpalette([10, 20, 30] + [200, 100, 50] * 255)
    p.paste(1, (0, 0, 40, 20))
    p.info["transparency"] = 0
    p.save(paths.setdefault("p", tmp_path / "p.png"), transparency=0)
    deep = (np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16)
    Image.fromarray(deep).save(paths.setdefault("i16", tmp_path / "deep.png"))
    Image.new("1", (40, 40), 1).save(paths.setdefault("bw", tmp_path / "bw.png"))

    out = {name: data.decode(str(path)) for name, path in paths.items()}
    for image in out.values():
        assert image.dtype == np.uint8 and image.shape == (40, 40, 3)
    assert np.all(np.abs(out["cmyk"].astype(int) - 255) <= 2)
    assert np.all(out["la"][:, :20] == 80) and np.all(out["la"][:, 20:] == 255)
    assert np.all(out["p"][:20] == (200, 100, 50)) and np.all(out["p"][20:] == 255)
    # 16 bits scaled by 255/65535, not clipped (nor stretched to the image's own range)
    np.testing.assert_array_equal(out["i16"][:, :, 0], np.round(deep / 257.0).astype(np.uint8))
    assert np.all(out["bw"] == 255)


def test_bad_files_are_masked_and_counted(tmp_path):
    folder = write_folder(tmp_path / "set", 5)
    expected = write_bad_files(folder)
    items = data.folder_items(folder)
    batches = list(data.iter_batches(items, 3, 16, padded=4, workers=2))
    assert len(batches) == 3 and all(b.x.shape == (4, 16, 16, 3) for b in batches)
    mask = np.concatenate([b.mask for b in batches])
    reasons = np.concatenate([b.reasons for b in batches])
    rows = [k * 4 + r for k in range(3) for r in range(3)]  # the non-padding rows
    assert not mask[[3, 7, 11]].any() and not reasons[[3, 7, 11]].any()
    for item, row in zip(items, rows):
        name = item.path.rsplit("/", 1)[1]
        if name in expected:
            assert not mask[row] and data.SKIP_REASONS[reasons[row] - 1] == expected[name]
        else:
            assert mask[row] and reasons[row] == 0
            x = batches[row // 4].x[row % 4]
            np.testing.assert_array_equal(x, preprocess(np.asarray(Image.open(item.path).convert("RGB")), 16))
    counts = np.bincount(reasons, minlength=len(data.SKIP_REASONS) + 1)
    assert data.skipped_counts(counts) == {"not_an_image": 1, "truncated": 1, "too_small": 1}


def test_batches_resume_and_split_across_hosts(tmp_path):
    """Starting at batch k gives the tail of the full stream; row blocks tile each batch."""
    items = data.folder_items(write_folder(tmp_path / "set", 7))
    order = np.asarray(jax.random.permutation(jax.random.key(3), len(items)))
    full = list(data.iter_batches(items, 2, 16, order=order, padded=4, prefetch=1))
    tail = list(data.iter_batches(items, 2, 16, order=order, padded=4, start_batch=2))
    assert len(full) == 4 and len(tail) == 2
    for a, b in zip(full[2:], tail):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.labels, b.labels)
    halves = [list(data.iter_batches(items, 2, 16, order=order, padded=4, rows=slice(h * 2, h * 2 + 2)))
              for h in (0, 1)]
    for k, batch in enumerate(full):
        np.testing.assert_array_equal(np.concatenate([halves[0][k].x, halves[1][k].x]), batch.x)
        np.testing.assert_array_equal(np.concatenate([halves[0][k].mask, halves[1][k].mask]), batch.mask)
    assert full[3].mask.tolist() == [True, False, False, False]  # 7 = 3 * 2 + 1, then padding
    np.testing.assert_array_equal(full[0].labels[:2], [items[order[0]].label, items[order[1]].label])


def test_bundled_splits_hold_disjoint_photos():
    train, val = data.bundled_splits(20, 6, jax.random.key(0))
    assert (len(train), len(val)) == (20, 6)
    assert not {i.path for i in train} & {i.path for i in val}
    assert data.bundled_splits(20, 6, jax.random.key(0)) == (train, val)
    base = {i.path for i in train if i.crop is None}
    assert len(base) == len({i.path for i in train})  # every photo once whole, then augmented copies
    assert all(0.6 <= i.crop[0] <= 1.0 for i in train if i.crop is not None)
    coffee = [i for i in train + val if i.path.endswith("coffee.png")]
    assert coffee and all(i.label == 967 for i in coffee)


def test_apply_crop_window_and_flip():
    image = np.arange(10 * 20 * 3, dtype=np.int32).reshape(10, 20, 3)
    out = data.apply_crop(image, (0.5, 1.0, 0.0, True))  # bottom-left half-size window, mirrored
    np.testing.assert_array_equal(out, image[5:10, 0:10][:, ::-1])
    assert data.apply_crop(image, None) is image


def test_links_list_each_file_once_by_its_real_path(tmp_path):
    """``a -> .``, ``self -> .``, a link to a file of the folder and a link to a synset folder
    outside it: each file is listed once, where first met, by its real path; the loops are
    not followed (one level of subfolders), and the duplicates dropped are counted."""
    root = write_folder(tmp_path / "set", 6)                        # 3 files in each of 2 synsets
    Image.fromarray(smooth_image(np.random.default_rng(8), 40, 40)).save(root / "loose.png")
    (root / "a").symlink_to(root)                                   # a link to the folder itself
    (root / "self").symlink_to(".")
    (root / "again.png").symlink_to(root / "loose.png")             # a link to a file of the folder
    (root / "n01440764" / "up").symlink_to("..")                    # a loop one level down: not read
    elsewhere = write_folder(tmp_path / "elsewhere", 2, synsets=("n01484850",))
    (root / "n01484850").symlink_to(elsewhere / "n01484850")        # a synset folder kept elsewhere
    listing = data.folder_listing(root)
    paths = [i.path for i in listing.items]
    assert len(paths) == len(set(paths)) == 6 + 1 + 2
    assert all(p == os.path.realpath(p) for p in paths)
    # a/ and self/ list the 7 files of root again (the loose one and its link), again.png once more
    assert listing.duplicates == 2 * 2 + 1
    labels = {os.path.relpath(i.path, tmp_path): i.label for i in listing.items}
    assert labels["set/loose.png"] == -1 and labels["set/n01440764/img000.png"] == 0
    assert labels["elsewhere/n01484850/img000.png"] == 2                 # the link's synset name
    assert data.folder_items(root) == listing.items
    train, val = data.split_items(listing.items, 6, 3, jax.random.key(0))
    assert not {i.path for i in train} & {i.path for i in val}      # no photo trained on and held out


def test_a_folder_of_links_to_files_elsewhere_is_read(tmp_path):
    """A curated subset made of links: each link's file, labelled by where the link is."""
    store = write_folder(tmp_path / "store", 4)
    subset = tmp_path / "subset" / "n01443537"
    subset.mkdir(parents=True)
    for p in sorted((store / "n01440764").iterdir()):
        (subset / p.name).symlink_to(p)
    listing = data.folder_listing(tmp_path / "subset")
    assert listing.duplicates == 0 and len(listing.items) == 2
    assert [i.label for i in listing.items] == [1, 1]
    assert all(i.path.startswith(str(store.resolve())) for i in listing.items)
