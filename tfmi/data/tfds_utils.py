"""Shared tensorflow_datasets helpers: where tfds looks, whether a dataset is on disk, and
the one error a user sees when it is not.

The checks look at the local file system only (no network, no tfds import), so an
offline machine fails in milliseconds with a message that says what to put where,
instead of hanging in a download.
"""

import glob
import importlib.util
import os

__all__ = [
    "tfds_data_dir",
    "tfds_installed",
    "tfds_prepared",
    "tfds_mocked",
    "manual_dir_for",
    "missing_data_message",
    "require_tfds_data",
]

# Builders whose source files cannot be downloaded by tfds: the user must fetch them.
MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
}
_MANUAL_SOURCE = {
    "imagenet2012": "https://image-net.org/download-images.php (an ImageNet account is needed)",
}


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


def missing_data_message(name, data_dir=None, manual_dir=None, version=None):
    """What a user reads when the tfds dataset ``name`` is not prepared under the data dir."""
    where = tfds_data_dir(data_dir)
    looked = os.path.join(where, *name.split("/"), version or "<version>", "dataset_info.json")
    builder = name.split("/")[0]
    message = f"The tfds dataset {name!r} is not prepared under the tfds data_dir {where} (looked for {looked}). "
    if builder in MANUAL_FILES:
        files = " and ".join(MANUAL_FILES[builder])
        manual = manual_dir_for(data_dir, manual_dir)
        message += (
            f"tfds cannot download {builder!r}: put {files} (from {_MANUAL_SOURCE[builder]}) in the "
            f"manual-download directory {manual} (config field manual_dir), then prepare it once with "
            f"`tfds build {builder} --data_dir={where} --manual_dir={manual}` (or set the config field "
            "download=True to prepare it on first use)."
        )
    else:
        message += (
            f"Prepare it on a machine with internet: `tfds build {name} --data_dir={where}` (or set the "
            f"config field download=True), or copy a prepared ~/tensorflow_datasets/{builder} here (or point "
            "TFDS_DATA_DIR / data_dir at it). tensorflow-datasets==4.9.10 is the tfmi[data] extra."
        )
    return message


def require_tfds_data(name, data_dir=None, *, download=False, manual_dir=None):
    """Checks that the tfds dataset ``name`` can be read, BEFORE any download attempt.

    Returns the tfds ``DatasetBuilder``. Prepared on disk (or tfds mocked in a test):
    the builder as is. Not prepared and ``download``: ``download_and_prepare`` (with
    ``manual_dir`` for builders that need manual files). Not prepared and not
    ``download``: one ValueError naming the builder, the data_dir looked in and, for
    ImageNet, the manual-download directory and the files to put there.
    """
    if not tfds_installed():
        raise ValueError(
            f"The vision data need tensorflow_datasets to read {name!r}: pip install "
            "tensorflow-datasets==4.9.10 (the tfmi[data] extra)."
        )
    import tensorflow_datasets as tfds

    mocked = tfds_mocked()
    if not mocked and not tfds_prepared(name, data_dir) and not download:
        raise ValueError(missing_data_message(name, data_dir, manual_dir))
    builder = tfds.builder(name, data_dir=tfds_data_dir(data_dir))
    if mocked:
        return builder
    if not builder.is_prepared():
        if not download:
            raise ValueError(missing_data_message(name, data_dir, manual_dir, str(builder.version)))
        manual = manual_dir_for(data_dir, manual_dir)
        needed = MANUAL_FILES.get(name.split("/")[0], ())
        if any(not os.path.exists(os.path.join(manual, f)) for f in needed):
            raise ValueError(missing_data_message(name, data_dir, manual_dir, str(builder.version)))
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir_for(data_dir, manual_dir))
        )
    return builder
