"""Every data set the recipes, tests and benchmarks use, by name: its files, their checksums, where
each is published, and its licence. One table, so that a name means the same bytes everywhere.

A file is stored under `name`; `published` is the file as it is downloaded or imported (checked by
`sha256` and `size`), turned into the stored file by `convert` (empty: stored as published). `layout`
is where the stored file lies in a folder laid out as the project's benchmark data folder
(`$TEXTGAN_DATA`). `role` is how recipes and code ask for a file of a set (`train`, `test`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

TEXYGEN = "https://raw.githubusercontent.com/geek-ai/Texygen/3104e22ac75f3cc2070da2bf5e2da6d2bef149ad"
SEQGAN = "https://raw.githubusercontent.com/LantaoYu/SeqGAN/e2b52fb6309851b14765290e8a972ccac09f1bec"
LEAKGAN = "https://raw.githubusercontent.com/CR-Gjx/LeakGAN/4044de626dbfcfddb51e56645d0edc11c340e6a7"
CNN_SENTENCE = "https://raw.githubusercontent.com/yoonkim/CNN_sentence/23e0e1f7355705bb083043fda05c031b15acb38c"
# the mirror torchvision reads; md5s as MNIST publishes
MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set (see the module docstring for the fields)."""

    name: str
    layout: str
    size: int
    sha256: str
    url: str = ""
    role: str = ""
    published: str = ""
    convert: str = ""

    @property
    def published_name(self) -> str:
        return self.published or self.name


@dataclass(frozen=True)
class DataSet:
    """A named data set: bundled in the package, or fetched into the cache by `textgan data get`."""

    name: str
    description: str
    licence: str
    origin: str
    files: tuple[DataFile, ...]
    bundled: bool = False

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, role_or_name: str) -> DataFile:
        """The file with this role or name (KeyError if none)."""
        for f in self.files:
            if role_or_name in (f.role, f.name):
                return f
        raise KeyError(role_or_name)


def _texygen_samples() -> tuple[DataFile, ...]:
    sums = {
        "mle": (599409, "e80736112f9cf8ad3a9c3dbc0c9fba15252a415bfb4e2c4167e5aac6da71569c"),
        "seq": (579128, "ac724272107b33d2c6d40c8a003ba29e856a09b0f2f77a921e486ed1d4a6d26c"),
        "maligan": (580918, "493d672fae4d676532b252ba70b2133523d17ae9c9c84e01dd3dbb8b33771b95"),
        "rank": (515457, "c7ab24a5442874f6824b2ea301c3483a40c927277dae967c94d26bad96a775ed"),
        "leakgan": (505716, "e3aa1b08801c5f5e84c1b1a9470e68860a833a19e48e4dbaa3637be24fde9ed8"),
        "textgan": (256621, "b11ae70a638eb71bb49b669bd305cceaca430782b52c4538fe1864bd2229bd15"),
    }
    return tuple(DataFile(f"{m}.txt", f"texygen_samples/{m}.txt", size, sha,
                          f"{TEXYGEN}/docs/instances/{m}.txt", m)
                 for m, (size, sha) in sums.items())


DATASETS: dict[str, DataSet] = {d.name: d for d in (
    DataSet(
        "coco", "MS-COCO image captions as Texygen/RelGAN use them: 10,000 training and 10,000 test lines",
        "MIT (Texygen, (c) 2018 Geek.AI); the captions: COCO annotations, CC BY 4.0",
        "geek-ai/Texygen@3104e22 data/image_coco.txt, data/testdata/test_coco.txt",
        (DataFile("image_coco.txt", "coco/image_coco.txt", 546442,
                  "2c0fd1f0f43aac6a9dc3926a535516ccf395de535e15ac1fd17cd569420736f5",
                  f"{TEXYGEN}/data/image_coco.txt", "train"),
         DataFile("test_coco.txt", "coco/testdata/test_coco.txt", 536184,
                  "72e25c9fb4d2cd43182ac602c92f6ffc377762147f9709572943b0b09174bcae",
                  f"{TEXYGEN}/data/testdata/test_coco.txt", "test")),
        bundled=True),
    DataSet(
        "seqgan-oracle", "the SeqGAN synthetic benchmark's oracle LSTM (vocabulary 5,000, 32/32), as .npz",
        "none stated by its repository (not bundled: downloaded or imported by the user)",
        "LantaoYu/SeqGAN@e2b52fb save/target_params_py3.pkl",
        (DataFile("target_params.npz", "seqgan_oracle/target_params.npz", 1334000,
                  "5ac794a695dd6e0eb2bb689f3dfda55e4e0053e8c0399e6242630a95f1e60e8a",
                  f"{SEQGAN}/save/target_params_py3.pkl", "oracle",
                  "target_params_py3.pkl", "seqgan-pickle"),)),
    DataSet(
        "mnist-test", "the MNIST test split: 10,000 handwritten digits, 28x28, with labels (IDX files)",
        "MNIST (LeCun, Cortes, Burges), distributed for research use",
        "MNIST t10k files (md5 9fb629c4189551a2d022fa330f9573f3, ec29112dd5afa0611ce80d1b7f02629c)",
        (DataFile("t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz", 1648877,
                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                  f"{MNIST}/t10k-images-idx3-ubyte.gz", "images"),
         DataFile("t10k-labels-idx1-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz", 4542,
                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                  f"{MNIST}/t10k-labels-idx1-ubyte.gz", "labels"))),
    DataSet(
        "oracle-len40", "9,984 samples of length 40 from the SeqGAN oracle, as LeakGAN released "
                        "them (token ids)",
        "none stated by its repository (not bundled)",
        "CR-Gjx/LeakGAN@4044de6 'Synthetic Data/save/real_data.txt'",
        (DataFile("real_data.txt", "oracle_len40/real_data.txt", 1915864,
                  "1074f1e2c45fceb922792394a3d7f968547c1d9ce48acef612adbe6a3c37866f",
                  f"{LEAKGAN}/Synthetic%20Data/save/real_data.txt", "train"),)),
    DataSet(
        "texygen-samples", "the COCO samples Texygen published beside its BLEU tables (9,984 per model)",
        "MIT (Texygen, (c) 2018 Geek.AI)", "geek-ai/Texygen@3104e22 docs/instances/*.txt",
        _texygen_samples()),
    DataSet(
        "movie-review", "sentence polarity v1.0 (Pang & Lee 2005): 5,331 positive and 5,331 negative "
                        "lines, Latin-1",
        "distributed by its authors for research use (not bundled)",
        "yoonkim/CNN_sentence@23e0e1f rt-polarity.*",
        (DataFile("rt-polarity.pos", "movie_review/rt-polarity.pos", 626139,
                  "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0",
                  f"{CNN_SENTENCE}/rt-polarity.pos", "pos"),
         DataFile("rt-polarity.neg", "movie_review/rt-polarity.neg", 612256,
                  "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca",
                  f"{CNN_SENTENCE}/rt-polarity.neg", "neg"))),
)}
