"""A Lightning data module over map-style datasets of sample dicts."""

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from sgm.core.errors import SgmError


def check_loader_args(batch_size: int, num_workers: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")


class DictDataModule(pl.LightningDataModule):
    """Train / validation / test loaders over datasets of dicts; validation and test default to the next one up.
    An empty dataset is refused: Lightning would run empty epochs with it forever."""

    def __init__(
        self,
        train: Dataset,
        validation: Dataset | None = None,
        test: Dataset | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        prefetch_factor: int = 2,
        shuffle: bool = True,
    ):
        super().__init__()
        check_loader_args(batch_size, num_workers)
        for split, dataset in (("training", train), ("validation", validation), ("test", test)):
            if dataset is not None and len(dataset) == 0:
                raise SgmError(f"the {split} set ({type(dataset).__name__}) is empty: it would yield no batch")
        self.train_dataset = train
        self.val_dataset = validation if validation is not None else train
        self.test_dataset = test if test is not None else self.val_dataset
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor if num_workers > 0 else None
        self.shuffle = shuffle

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, False)
