"""Shared tensorflow_datasets helpers: where tfds looks, whether a dataset is on disk, and
the one error a user sees when it is not, or when it is there but cannot be read.

As in tfds, a dataset that tfds can download is downloaded on first use (the config
field ``data.download``, on by default; ImageNet's files must be fetched by hand).
The checks look at the local file system first (no network), and before a download
the hosts it needs are tried for a few seconds, so an offline machine fails in
seconds with a message that says what to put where and how to turn downloading off,
instead of waiting minutes on tfds's retries.
"""

import functools
import glob
import importlib.util
import os
import re

import numpy as np
import tensorflow as tf

from tfmi import reachability
from tfmi.errors import InputError

__all__ = [
    "tfds_data_dir",
    "tfds_installed",
    "tfds_prepared",
    "tfds_mocked",
    "manual_dir_for",
    "prepared_dirs",
    "missing_data_message",
    "corrupt_data_message",
    "require_tfds_data",
    "load_images",
]

# Builders whose source files cannot be downloaded by tfds: the user must fetch them.
MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
}
_MANUAL_SOURCE = {
    "imagenet2012": "https://image-net.org/download-images.php (an ImageNet account is needed)",
}
DOWNLOAD_PROBE_TIMEOUT = 5.0  # seconds each download host has to accept a connection


def tfds_data_dir(data_dir=None):
    """Where tfds reads from: ``data_dir``, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def tfds_installed():
    return importlib.util.find_spec("tensorflow_datasets") is not None


def tfds_prepared(name="mnist", data_dir=None, version=None):
    """Whether the TFDS dataset ``name`` is prepared under the tfds data dir.

    Looks for ``<data_dir>/<name>/<version>/dataset_info.json`` (written when
    preparation completes; ``name`` may be ``"builder/config"``, ``version`` a glob,
    any version by default) on the local file system: no network call, so it never
    waits on a download, and it does not need tensorflow_datasets to be installed.
    """
    pattern = os.path.join(tfds_data_dir(data_dir), *name.split("/"), version or "*", "dataset_info.json")
    return bool(glob.glob(pattern))


def tfds_mocked():
    """Whether ``tfds.testing.mock_data`` is active (then no data need be on disk)."""
    if not tfds_installed():
        return False
    import tensorflow_datasets as tfds

    method = tfds.core.DatasetBuilder.download_and_prepare
    return getattr(method, "__name__", "") == "mock_download_and_prepare"


def manual_dir_for(data_dir=None, manual_dir=None):
    """The manual-download directory tfds reads: ``manual_dir``, else <data_dir>/downloads/manual."""
    return manual_dir or os.path.join(tfds_data_dir(data_dir), "downloads", "manual")


# The switch a trainer run turns downloading on or off with (the config field data.download).
DOWNLOAD_ON = "--config.data.download=true"
DOWNLOAD_OFF = "--config.data.download=false"


def prepared_dirs(name, data_dir=None):
    """The version folders of the tfds dataset ``name`` that hold a dataset_info.json."""
    pattern = os.path.join(tfds_data_dir(data_dir), *name.split("/"), "*", "dataset_info.json")
    return sorted(os.path.dirname(path) for path in glob.glob(pattern))


def _how_to_prepare(name, data_dir=None, manual_dir=None):
    """What to do to have the tfds dataset ``name`` prepared under the data dir."""
    where = tfds_data_dir(data_dir)
    builder = name.split("/")[0]
    if builder in MANUAL_FILES:
        files = " and ".join(MANUAL_FILES[builder])
        manual = manual_dir_for(data_dir, manual_dir)
        return (
            f"tfds cannot download {builder!r}: put {files} (from {_MANUAL_SOURCE[builder]}) in the "
            f"manual-download directory {manual} (config field manual_dir), then prepare it once with "
            f"`tfds build {builder} --data_dir={where} --manual_dir={manual}` (or run with {DOWNLOAD_ON} "
            "to prepare it from those files on first use)."
        )
    return (
        f"Prepare it on a machine with internet: `tfds build {name} --data_dir={where}`, or copy a "
        f"prepared ~/tensorflow_datasets/{builder} here (or point TFDS_DATA_DIR / data_dir at it). "
        "tensorflow-datasets==4.9.10 is the tfmi[data] extra."
    )


def missing_data_message(name, data_dir=None, manual_dir=None, version=None, *, unreachable=None):
    """What a user reads when the tfds dataset ``name`` is not prepared under the data dir.

    ``unreachable``: {address: reason} of the download hosts that did not answer (a
    download was attempted); None: downloading was off.
    """
    where = tfds_data_dir(data_dir)
    looked = os.path.join(where, *name.split("/"), version or "<version>", "dataset_info.json")
    message = f"The tfds dataset {name!r} is not prepared under the tfds data_dir {where} (looked for {looked})"
    if unreachable:
        hosts = "; ".join(f"{address} ({reason})" for address, reason in unreachable.items())
        message += f", and it cannot be downloaded: no connection to {hosts}"
    message += ". " + _how_to_prepare(name, data_dir, manual_dir)
    if name.split("/")[0] in MANUAL_FILES:
        return message
    if unreachable:
        return message + f" To skip the download attempt, run with {DOWNLOAD_OFF}."
    return message + f" Downloading is off; {DOWNLOAD_ON} downloads it on first use."


def corrupt_data_message(name, data_dir=None, error=None, manual_dir=None):
    """What a user reads when the prepared tfds dataset ``name`` cannot be read."""
    folders = " and ".join(prepared_dirs(name, data_dir) or [os.path.join(tfds_data_dir(data_dir), *name.split("/"))])
    detail = ""
    if error is not None:
        text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(error)).strip()  # TF's "{{function_node ...}}"
        detail = f" ({type(error).__name__}: {text.splitlines()[-1] if text else ''})"
    where = tfds_data_dir(data_dir)
    builder = name.split("/")[0]
    if builder in MANUAL_FILES:
        manual = manual_dir_for(data_dir, manual_dir)
        again = (
            f"`tfds build {builder} --data_dir={where} --manual_dir={manual}` (with "
            f"{' and '.join(MANUAL_FILES[builder])} in {manual})"
        )
    else:
        again = (
            f"a run with {DOWNLOAD_ON} (the default) downloads it again, or "
            f"`tfds build {name} --data_dir={where}` on a machine with internet"
        )
    return (
        f"The prepared tfds dataset {name!r} in {folders} cannot be read{detail}: it is corrupt or "
        f"incomplete. Delete {folders} and prepare it again: {again}."
    )


def _download_addresses(name):
    """The "host:port" every download of the tfds dataset ``name`` connects to."""
    import tensorflow_datasets as tfds

    url_infos = tfds.builder_cls(name.split("/")[0]).url_infos or {}
    return sorted({reachability.download_address(url) for url in url_infos})


def _builder(name, data_dir):
    """``tfds.builder``; a prepared dataset that it cannot read gives a ValueError
    naming its folder (a garbled dataset_info.json fails here)."""
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=tfds_data_dir(data_dir))
    except Exception as error:  # noqa: BLE001  (ParseError, JSONDecodeError, KeyError, ...)
        if not prepared_dirs(name, data_dir):
            raise
        raise InputError(corrupt_data_message(name, data_dir, error)) from None


def require_tfds_data(name, data_dir=None, *, download=True, manual_dir=None):
    """Checks that the tfds dataset ``name`` can be read, BEFORE any download attempt.

    Returns the tfds ``DatasetBuilder``. Prepared on disk (or tfds mocked in a test):
    the builder as is; prepared but unreadable: one ValueError naming its folder and
    the fix. Not prepared, and ``download`` (tfds's default): for a dataset tfds
    downloads, the hosts of its files are tried first (a few seconds; an offline
    machine gets the missing-data message and the switch that turns downloading off),
    then ``download_and_prepare``; for one with manual files (ImageNet), those must be
    in ``manual_dir``. Not prepared and not ``download``: one ValueError naming the
    builder, the data_dir looked in, the switch that turns downloading on and, for
    ImageNet, the manual-download directory and the files to put there.
    """
    if not tfds_installed():
        raise InputError(
            f"The vision data need tensorflow_datasets to read {name!r}: pip install "
            "tensorflow-datasets==4.9.10 (the tfmi[data] extra)."
        )
    import tensorflow_datasets as tfds

    mocked = tfds_mocked()
    builder = None
    if mocked or tfds_prepared(name, data_dir):
        builder = _builder(name, data_dir)
        if mocked or builder.is_prepared():
            return builder
    version = str(builder.version) if builder is not None else None
    if not download:
        raise InputError(missing_data_message(name, data_dir, manual_dir, version))
    manual = manual_dir_for(data_dir, manual_dir)
    needed = MANUAL_FILES.get(name.split("/")[0], ())
    if any(not os.path.exists(os.path.join(manual, f)) for f in needed):
        raise InputError(missing_data_message(name, data_dir, manual_dir, version))
    if not needed:
        unreachable = reachability.unreachable(_download_addresses(name), timeout=DOWNLOAD_PROBE_TIMEOUT)
        if unreachable:
            raise InputError(missing_data_message(name, data_dir, manual_dir, version, unreachable=unreachable))
    builder = builder or _builder(name, data_dir)
    try:
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    except Exception as error:  # noqa: BLE001  (ConnectionError, DownloadError, NonMatchingChecksumError, ...)
        text = str(error).strip()
        raise InputError(
            f"Preparing the tfds dataset {name!r} under {tfds_data_dir(data_dir)} failed "
            f"({type(error).__name__}: {text.splitlines()[-1] if text else ''}). "
            + _how_to_prepare(name, data_dir, manual_dir)
            + ("" if needed else f" To skip the download attempt, run with {DOWNLOAD_OFF}.")
        ) from None
    return builder


@functools.lru_cache(maxsize=8)
def load_images(name, split, data_dir=None, download=True):
    """(uint8 images [n, H, W, C], int64 labels [n]) of a tfds image-classification split,
    held in memory (read-only, cached per arguments).

    ``require_tfds_data`` first: the data are on disk (or, with ``download``,
    downloaded), else one clear error; a prepared split whose files cannot be read
    (truncated, garbled) gives one error naming its folder.
    """
    builder = require_tfds_data(name, data_dir, download=download)
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as error:  # noqa: BLE001  (tfds raises many types for a bad split or data)
        text = str(error).strip()
        raise InputError(
            f"tfds could not load {name!r} split {split!r} from {tfds_data_dir(data_dir)}: "
            f"{type(error).__name__}: {text.splitlines()[0] if text else ''}. "
            + _how_to_prepare(name, data_dir)
        ) from None
    images, labels = [], []
    try:
        for batch in dataset.batch(10000).as_numpy_iterator():
            images.append(batch["image"])
            labels.append(batch["label"])
    except tf.errors.OpError as error:  # DataLossError: a truncated or garbled record file
        raise InputError(corrupt_data_message(name, data_dir, error)) from None
    if not images:
        raise InputError(f"tfds returned no examples for {name!r} split {split!r}.")
    images = np.concatenate(images).astype(np.uint8)
    labels = np.concatenate(labels).astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
