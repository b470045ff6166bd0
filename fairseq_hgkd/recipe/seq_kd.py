"""Sequence-level KD data (Kim & Rush 2016): the training targets replaced by the teacher's
beam-search translations of the training sources; valid and test stay the gold data."""
import os
import shutil
import sys
from typing import Dict

from fairseq_hgkd.atomic_io import atomic_directory
from fairseq_hgkd.evaluation.bleu import read_hypotheses
from fairseq_hgkd.errors import HgkdError
from fairseq_hgkd.prepare.parallel_text import read_lines


def build_seq_kd_data_bin(prepared_dir: str, teacher_generate_train: str, out_dir: str,
                          src: str, tgt: str, workers: int = 1) -> str:
    """Write out_dir/data-bin from the prepared corpus and the teacher's generate-train.txt."""
    import subprocess

    data_bin = os.path.join(prepared_dir, "data-bin")
    bpe = os.path.join(prepared_dir, "bpe")
    hypotheses: Dict[int, str] = read_hypotheses(teacher_generate_train)
    final = os.path.join(out_dir, "data-bin")
    if len(hypotheses) == 0:
        raise HgkdError(f"{teacher_generate_train} holds no translations")
    with atomic_directory(final) as scratch:
        text_dir = os.path.join(scratch, "text")  # the seq-KD training text, kept for inspection
        os.makedirs(text_dir)
        sources = list(read_lines(os.path.join(bpe, f"train.{src}")))
        gold = list(read_lines(os.path.join(bpe, f"train.{tgt}")))
        kept_gold = 0
        with open(os.path.join(text_dir, f"train.{src}"), "w", encoding="utf-8") as s_out, \
                open(os.path.join(text_dir, f"train.{tgt}"), "w", encoding="utf-8") as t_out:
            for i, (source, reference) in enumerate(zip(sources, gold)):
                hypothesis = hypotheses.get(i, "").strip()
                if not hypothesis:
                    hypothesis, kept_gold = reference, kept_gold + 1
                s_out.write(source + "\n")
                t_out.write(hypothesis + "\n")
        if kept_gold:
            print(f"[recipe] seq_kd: {kept_gold} of {len(sources)} training sentences had no "
                  "teacher translation and keep their gold target", file=sys.stderr)
        command = [
            sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", src,
            "--target-lang", tgt, "--trainpref", os.path.join(text_dir, "train"),
            "--validpref", os.path.join(bpe, "valid"), "--testpref", os.path.join(bpe, "test"),
            "--srcdict", os.path.join(data_bin, f"dict.{src}.txt"),
            "--tgtdict", os.path.join(data_bin, f"dict.{tgt}.txt"),
            "--destdir", scratch, "--workers", str(max(1, workers)),
        ]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise HgkdError("fairseq-preprocess failed on the seq-KD data: "
                            + " | ".join(result.stdout.splitlines()[-3:]))
        for name in ("spm.model", "hgkd_data.json"):
            if os.path.isfile(os.path.join(data_bin, name)):
                shutil.copyfile(os.path.join(data_bin, name), os.path.join(scratch, name))
    return final
