"""Named datasets: where their raw files come from and where they are kept.

Each :class:`DatasetSource` names the files to download (URL, size,
sha256), the folder they unpack to and the files a config reads from it.
Raw files are kept in ``<cache>/raw/<name>/`` (``<cache>`` as in
:func:`gnnrec.data.cache.default_cache_dir`). :func:`fetch` downloads what is
missing; without network it fails with a message that says which file to put
where by hand. :func:`prepare_dataset` turns a dataset config into a
dataset: fetch when ``root`` is null and the dataset is downloadable, then
load through the cache.

A checksum of None means "not pinned": the file is accepted and its sha256
is logged so that it can be pinned here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gnnrec.data.cache import default_cache_dir, load_cached
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.download import DownloadError, download_file, extract_archive, is_archive
from gnnrec.data.files import sha256_file
from gnnrec.data.load import bundled_root
from gnnrec.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        url: where it is published.
        filename: its name in the dataset's raw folder.
        sha256: expected hex digest; None when not pinned.
        size: expected size in bytes; None when unknown.
    """

    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DatasetSource:
    """A named dataset and how to obtain its raw files.

    Attributes:
        name: the registry name (``dataset=<name>`` when a config exists).
        description: one line for listings.
        homepage: where the data and its terms are published.
        terms: licence or terms of use, and what to cite.
        downloads: files to fetch; empty for bundled or manual datasets.
        subdir: folder, inside the raw folder, that holds ``files`` once the
            downloads are unpacked ("" for the raw folder itself).
        files: files (relative to the data folder) that must be present.
        config: the ``conf/dataset`` entry that reads it, None if none yet.
        bundled: shipped inside the package (``root: null`` uses that copy).
    """

    name: str
    description: str
    homepage: str
    terms: str
    downloads: tuple[RemoteFile, ...] = ()
    subdir: str = ""
    files: tuple[str, ...] = ()
    config: str | None = None
    bundled: bool = False


_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
_GROUPLENS_TERMS = (
    "GroupLens terms: research use, acknowledge the data set, no redistribution without "
    "permission; cite Harper & Konstan, ACM TiiS 5(4), 2015"
)
# Checksums and sizes of the GroupLens archives: tensorflow/datasets,
# tensorflow_datasets/url_checksums/movielens.txt.
_LIGHTGCN = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data"
_LIGHTGCN_TERMS = (
    "the LightGCN preprocessed copy (He et al., SIGIR 2020; from NGCF, Wang et al., SIGIR "
    "2019); original data under its publisher's terms"
)
_AMAZON = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023"
_AMAZON_TERMS = (
    "Amazon Reviews 2023 (McAuley Lab); research use; cite Hou et al., 'Bridging Language "
    "and Items for Retrieval and Recommendation', arXiv:2403.03952, 2024"
)
AMAZON_CATEGORIES = (
    "Beauty_and_Personal_Care",
    "Books",
    "CDs_and_Vinyl",
    "Electronics",
    "Movies_and_TV",
    "Sports_and_Outdoors",
    "Toys_and_Games",
    "Video_Games",
)
"""Amazon Reviews 2023 categories registered as ``amazon-<category lowercased>``."""


def _movielens(name: str, sha256: str, size: int, files: tuple[str, ...]) -> DatasetSource:
    return DatasetSource(
        name=name,
        description=f"MovieLens {name[3:].upper()} ratings with genres (GroupLens)",
        homepage="https://grouplens.org/datasets/movielens/",
        terms=_GROUPLENS_TERMS,
        downloads=(RemoteFile(f"{_GROUPLENS}/{name}.zip", f"{name}.zip", sha256, size),),
        subdir=name,
        files=files,
        config=name,
    )


def _lightgcn(name: str, label: str) -> DatasetSource:
    return DatasetSource(
        name=name,
        description=f"{label}: LightGCN/NGCF train.txt and test.txt (10-core, predefined split)",
        homepage="https://github.com/kuandeng/LightGCN",
        terms=_LIGHTGCN_TERMS,
        downloads=tuple(
            RemoteFile(f"{_LIGHTGCN}/{name}/{f}", f) for f in ("train.txt", "test.txt")
        ),
        files=("train.txt", "test.txt"),
        config=name,
    )


def _amazon(category: str) -> DatasetSource:
    name = "amazon-" + category.lower().replace("_", "-")
    reviews = f"{category}.csv.gz"
    meta = f"meta_{category}.jsonl.gz"
    return DatasetSource(
        name=name,
        description=f"Amazon Reviews 2023, {category.replace('_', ' ')}: 5-core ratings + "
        "item categories (hierarchy paths)",
        homepage="https://amazon-reviews-2023.github.io/",
        terms=_AMAZON_TERMS,
        downloads=(
            RemoteFile(f"{_AMAZON}/benchmark/5core/rating_only/{reviews}", reviews),
            RemoteFile(f"{_AMAZON}/raw/meta_categories/{meta}", meta),
        ),
        files=(reviews, meta),
        config=name,
    )


def _amazon_cross_domain(name: str, categories: tuple[str, ...]) -> DatasetSource:
    files = tuple(f"{c}.csv.gz" for c in categories)
    return DatasetSource(
        name=name,
        description="Amazon Reviews 2023 5-core ratings of "
        + " and ".join(c.replace("_", " ") for c in categories)
        + ", one domain per category (for split=cross_domain)",
        homepage="https://amazon-reviews-2023.github.io/",
        terms=_AMAZON_TERMS,
        downloads=tuple(RemoteFile(f"{_AMAZON}/benchmark/5core/rating_only/{f}", f) for f in files),
        files=files,
        config=name,
    )


def _registry() -> Mapping[str, DatasetSource]:
    sources = [
        DatasetSource(
            name="ml-100k",
            description="MovieLens 100K with genres, RecBole atomic files (bundled)",
            homepage="https://grouplens.org/datasets/movielens/100k/",
            terms=_GROUPLENS_TERMS + "; atomic files from RecBole 1.2.1 (MIT)",
            files=("ml-100k.inter", "ml-100k.item"),
            config="ml-100k",
            bundled=True,
        ),
        _movielens(
            "ml-1m",
            "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            5917549,
            ("ratings.dat", "movies.dat", "users.dat"),
        ),
        _movielens(
            "ml-20m",
            "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
            198702078,
            ("ratings.csv", "movies.csv"),
        ),
        _movielens(
            "ml-25m",
            "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
            261978986,
            ("ratings.csv", "movies.csv"),
        ),
        _lightgcn("gowalla", "Gowalla check-ins"),
        _lightgcn("yelp2018", "Yelp 2018 challenge"),
        _lightgcn("amazon-book", "Amazon-Book"),
        *(_amazon(c) for c in AMAZON_CATEGORIES),
        _amazon_cross_domain("amazon-books-movies", ("Books", "Movies_and_TV")),
    ]
    return MappingProxyType({s.name: s for s in sources})


REGISTRY: Mapping[str, DatasetSource] = _registry()
"""Every registered dataset by name (read-only)."""


def source(name: str) -> DatasetSource:
    """The registered dataset ``name``.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    if name not in REGISTRY:
        raise ConfigError(
            f"no registered dataset {name!r}; registered: {', '.join(REGISTRY)} "
            "(or describe your own files in conf/dataset/<name>.yaml)"
        )
    return REGISTRY[name]


def raw_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder that keeps the downloads of ``name``: ``<cache>/raw/<name>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "raw" / name


def data_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """The folder holding the files a config of ``name`` reads once fetched."""
    src = source(name)
    folder = raw_dir(name, cache_dir)
    return folder / src.subdir if src.subdir else folder


def is_fetched(name: str, cache_dir: str | Path | None = None) -> bool:
    """Whether every file of ``name`` is in its data folder."""
    folder = data_dir(name, cache_dir)
    return all((folder / f).is_file() for f in source(name).files)


def offline_message(src: DatasetSource, folder: Path, failed: RemoteFile, reason: str) -> str:
    """What to do by hand when ``failed`` cannot be downloaded."""
    pinned = []
    if failed.size is not None:
        pinned.append(f"{failed.size:,} bytes")
    if failed.sha256 is not None:
        pinned.append(f"sha256 {failed.sha256}")
    facts = f" ({', '.join(pinned)})" if pinned else ""
    others = [d.filename for d in src.downloads if d is not failed]
    also = f" together with {', '.join(others)}" if others else ""
    return (
        f"{reason}. Without network access, download {failed.url} on another machine and put "
        f"it in {folder}/{failed.filename}{facts}{also}, then run again; or point "
        f"dataset.root at a folder that already holds {', '.join(src.files)}"
    )


def fetch(
    name: str,
    cache_dir: str | Path | None = None,
    download: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make the raw files of ``name`` present and return the folder holding them.

    Files already in place are kept (an archive present by hand is checked
    against its pinned sha256 and unpacked); missing ones are downloaded
    unless ``download`` is false.

    Raises:
        ConfigError: an unknown name.
        DownloadError: a download that cannot be made (the message says where
            to put the file by hand).
        DataError: a checksum mismatch, an unsafe archive, a file still
            missing after unpacking.
    """
    src = source(name)
    if src.bundled:
        return bundled_root(name)
    folder = raw_dir(name, cache_dir)
    target = data_dir(name, cache_dir)
    if is_fetched(name, cache_dir):
        return target
    for remote in src.downloads:
        path = folder / remote.filename
        if path.is_file():
            _verify(path, remote)
        elif not download:
            reason = f"{path} is missing and downloads are off"
            raise DownloadError(offline_message(src, folder, remote, reason))
        else:
            try:
                digest = download_file(remote.url, path, remote.sha256, remote.size, timeout)
            except DownloadError as err:
                raise DownloadError(offline_message(src, folder, remote, str(err))) from None
            if remote.sha256 is None:
                log.warning("%s: sha256 not pinned; got %s for %s", name, digest, remote.url)
        if is_archive(path):
            extract_archive(path, folder)
    missing = [f for f in src.files if not (target / f).is_file()]
    if missing:
        raise DataError(
            f"after fetching {name}, {', '.join(missing)} is still missing; the downloads do not "
            "hold the expected files (delete the folder and fetch again)",
            target,
        )
    return target


def _verify(path: Path, remote: RemoteFile) -> None:
    if remote.sha256 is None:
        return
    got = sha256_file(path)
    if got != remote.sha256:
        raise DataError(
            f"sha256 is {got}, expected {remote.sha256} ({remote.url}); "
            "delete the file and download it again",
            path,
        )


_LOADERS = ("gnnrec.data.load_dataset", "gnnrec.data.load.load_dataset")


def prepare_dataset(
    config: Mapping[str, Any],
    cache: bool = True,
    cache_dir: str | Path | None = None,
    download: bool = True,
) -> InteractionDataset:
    """Build the dataset a ``conf/dataset`` config describes, via download and cache.

    When ``root`` is null and ``name`` is a downloadable registered dataset,
    its raw files are fetched first and ``root`` points at them. The
    dataset is then loaded through :func:`gnnrec.data.cache.load_cached`.

    Args:
        config: the dataset config as a plain mapping (its ``_target_``, if
            any, must be :func:`gnnrec.data.load_dataset`).
        cache: read and write the processed-dataset cache.
        cache_dir: cache root for raw downloads and processed datasets.
        download: allow downloads (false: fail with the manual instructions).
    """
    options = dict(config)
    target = options.pop("_target_", _LOADERS[0])
    if target not in _LOADERS:
        raise ConfigError(
            f"prepare_dataset builds datasets of gnnrec.data.load_dataset, not {target}"
        )
    name: Any = options.get("name")
    if options.get("root") is None and name in REGISTRY and REGISTRY[name].downloads:
        options["root"] = str(fetch(name, cache_dir, download))
    return load_cached(cache=cache, cache_dir=cache_dir, **options)
