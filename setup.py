"""fairseq-hgkd: hard-gate knowledge distillation (Lee et al., EMNLP 2022) as a fairseq plugin.

fairseq itself (the maintained fork fairseq-fixed==0.12.3.1) is deliberately not listed in
install_requires: its metadata asks for torchaudio, which would pull a second multi-GB torch.
`make install` installs it with --no-deps; see README.md.
"""
from setuptools import find_packages, setup

setup(
    name="fairseq-hgkd",
    version="0.1.0",
    description="Hard-gate knowledge distillation for fairseq (HKD-T, HKD-S, word-level KD)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["fairseq_hgkd", "fairseq_hgkd.*"]),
    install_requires=["torch>=2.1", "numpy", "sentencepiece", "sacrebleu>=2.0", "matplotlib"],
    entry_points={
        "console_scripts": [
            "hgkd-user-dir=fairseq_hgkd.cli.user_dir:main",
            "hgkd-prepare=fairseq_hgkd.cli.prepare_data:main",
            "hgkd-eval=fairseq_hgkd.cli.evaluate:main",
            "hgkd-recipe=fairseq_hgkd.cli.recipe:main",
            "hgkd-average=fairseq_hgkd.cli.average:main",
            "hgkd-train-cpu=fairseq_hgkd.cli.train_cpu_ddp:main",
        ]
    },
)
