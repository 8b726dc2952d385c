"""Datasets as in-memory image tensors with a fixed test split and a seeded search split."""

from nasplug.data.bundle import DataBundle, ImageTensorDataset, search_split
from nasplug.data.sources import cifar, digits, image_folder, tensors

__all__ = ["DataBundle", "ImageTensorDataset", "search_split", "cifar", "digits", "image_folder", "tensors"]
