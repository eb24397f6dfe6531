"""Data sets by name: a registry of files and checksums, resolution (`$TEXTGAN_DATA`, the user cache,
bundled data), and `textgan data get` (checksummed download or offline import)."""

from textgan.data.fetch import get
from textgan.data.registry import DATASETS, DataFile, DataSet
from textgan.data.store import Located, data_file, dataset, is_dataset_name, locate, near_name_hint, require

__all__ = ["DATASETS", "DataFile", "DataSet", "Located", "data_file", "dataset", "get", "is_dataset_name",
           "locate", "near_name_hint", "require"]
